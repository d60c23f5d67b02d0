"""`serve --workers N` with one listening socket per worker, so the kernel spreads connections over them.

uvicorn's supervisor hands every worker the same socket. Each worker's event loop, woken by a new connection,
accepts every connection waiting at that moment; so a burst of keep-alive connections (a load balancer's pool,
a reverse proxy's upstream connections, a load test) often all land on one worker and stay there while the
other sits idle: the probe saw it in 5 of 7 runs at 16 connections, and it was measured here in 2 of 4 (one
worker 0.1-0.2 s of CPU, the other 8.2 s, in 8 s at 16 connections; issue 12, item 4).

With SO_REUSEPORT each worker slot has its own socket on the same address, and Linux assigns each new
connection to one of them by a hash of its addresses and ports: no worker is left out of a burst. A worker
that dies is replaced on its own slot's socket (the supervisor keeps it open), so connections hashed to that
slot wait in its queue for the replacement rather than being refused.

The supervision itself is uvicorn's (`Multiprocess`: health checks, restarts, signals); only the choice of
socket per started process is ours. Without SO_REUSEPORT (not Linux/BSD/macOS) every worker shares one socket
as before.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process, logger


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def worker_sockets(bind: Callable[..., socket.socket], *, host: str, port: int, workers: int) -> list[socket.socket]:
    """One socket per worker on (host, port), bound by `bind(host, port, reuse_port=...)`.

    The first is bound without SO_REUSEPORT and closed, then the others with it: a port another server already
    listens on is refused (EADDRINUSE) even when that server also set SO_REUSEPORT, instead of silently
    sharing its connections with it.
    """
    if workers == 1 or not reuse_port_supported():
        return [bind(host, port, reuse_port=False)]
    bind(host, port, reuse_port=False).close()  # in use by anyone: refused here, with the usual message
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sockets.append(bind(host, port, reuse_port=True))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class SpreadWorkers(Multiprocess):
    """uvicorn's `Multiprocess` where worker slot k always listens on `slots[k]` (one socket per worker), or on
    the one shared socket when there is only one for all."""

    def __init__(self, config: Config, *, slots: list[socket.socket]) -> None:
        super().__init__(config, sockets=slots)
        self.slots = slots

    def _sockets_of(self, slot: int) -> list[socket.socket]:
        return self.slots if len(self.slots) == 1 else [self.slots[slot]]

    def _start(self, slot: int) -> Process:
        process = Process(self.config, self._sockets_of(slot))
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(slot) for slot in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: each worker's replacement is brought up on its slot before the old one is retired."""
        for idx, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self._start(idx)
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New child process [{new_process.pid}] was not ready in time; "
                        f"keeping worker [{old_process.pid}] and aborting the restart."
                    )
                return
            old_process.terminate()
            old_process.join()
            self.processes[idx] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # broken app or socket: every restart would fail the same way
                logger.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            self.processes[idx] = self._start(idx)


__all__ = ["SpreadWorkers", "reuse_port_supported", "worker_sockets"]
