"""A real, throwaway PostgreSQL server for the tests (RELIABILITY.md: "PostgreSQL is exercised against a real
server in CI, not mocked").

`PostgresServer.start()` finds the server binaries (`pg_config --bindir`, then `initdb` on PATH, then the
newest /usr/lib/postgresql/*/bin), runs `initdb` into a fresh temporary directory with a random password
(scram-sha-256, nothing trusted), and starts it with `pg_ctl` on a free 127.0.0.1 port, its Unix socket in
the same directory, fsync off (a test server needs no durability). `stop()` stops it and deletes the
directory. Tests get a fresh database each (`create_database`), as a `postgresql+psycopg://` URL.

PostgreSQL refuses to run as root, and this machine and CI run as root: then every server command runs as
the `postgres` system user (made by Debian's postgresql package) through `runuser` (or `setpriv`), with
the temporary directory handed to that user. Not root: the commands run as the current user.

`missing_reason()` says why no server can be started (no binaries; root without a postgres user); the
fixtures skip with it locally and fail with it when CI=true, so CI can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

INSTALL_HINT = "PostgreSQL tests need a PostgreSQL server: apt-get install postgresql (Debian)"
SERVICE_USER = "postgres"
SUPERUSER = "claimsight"
_START_SECONDS = 60


def _has_server(bindir: Path) -> bool:
    return all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidate = Path(out.stdout.strip())
            if _has_server(candidate):
                return candidate
        except (OSError, subprocess.SubprocessError):
            pass
    initdb = shutil.which("initdb")
    if initdb and _has_server(Path(initdb).resolve().parent):
        return Path(initdb).resolve().parent

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if _has_server(Path(found)):
            return Path(found)
    return None


def _as_root() -> bool:
    return os.geteuid() == 0


def _runner() -> list[str]:
    """The prefix that runs a command as the postgres user (root only)."""
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVICE_USER, "--"]
    return ["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups", "--"]


def missing_reason() -> str | None:
    """Why a server cannot be started here, or None if it can."""
    if find_bindir() is None:
        return INSTALL_HINT
    if _as_root():
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"{INSTALL_HINT}; running as root needs the '{SERVICE_USER}' system user it creates"
        if not (shutil.which("runuser") or shutil.which("setpriv")):
            return "PostgreSQL tests as root need runuser or setpriv (util-linux) to run the server as postgres"
    return None


def unavailable(reason: str) -> NoReturn:
    """Skip the test locally; fail it when CI=true, so a green CI always ran the PostgreSQL tests."""
    import pytest

    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="claimsight-pg-")))
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _databases: int = 0
    running: bool = False

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def _run(self, *args: str, timeout: float = _START_SECONDS) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if _as_root():
            command = [*_runner(), *command]
        # cwd: the server user may not be allowed into the caller's directory
        return subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr[-2000:]}\n{log}")

    def start(self) -> PostgresServer:
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if _as_root():
            account = pwd.getpwnam(SERVICE_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            os.chown(password_file, account.pw_uid, account.pw_gid)
        os.chmod(self.root, 0o700)
        self._check(
            self._run(
                "initdb",
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ),
            "initdb",
        )  # fmt: skip
        password_file.unlink()
        for _attempt in range(3):  # a free port can be taken between asking and binding
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=50"
            )
            result = self._run(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w",
                "-t", str(_START_SECONDS), "start",
            )  # fmt: skip
            if result.returncode == 0:
                self.running = True
                return self
        self._check(result, "pg_ctl start")
        return self

    def stop(self) -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its URL."""
        import psycopg

        self._databases += 1
        name = f"{prefix}_{self._databases}"
        with contextlib.closing(
            psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname="postgres")
        ) as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with contextlib.closing(
            psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname="postgres")
        ) as conn:
            conn.autocommit = True
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server() -> PostgresServer:
    """A running server; raises RuntimeError (with `missing_reason`) when none can be started."""
    reason = missing_reason()
    if reason is not None:
        raise RuntimeError(reason)
    bindir = find_bindir()
    assert bindir is not None
    server = PostgresServer(bindir=bindir)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise
