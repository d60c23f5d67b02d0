"""The Dask cluster a command runs its feature building and scoring on (`--cluster`, CLAIMSIGHT_DASK_SCHEDULER).

`local` or `local:N` starts a cluster of N worker processes on this machine for the command's lifetime (a test,
a bench, a machine with more cores than one process uses); any other value is a running scheduler's address
(`tcp://scheduler:8786`). Without either nothing changes: every command runs in its own process.

Workers key patient history with their own CLAIMSIGHT_PATIENT_KEY, installed by a worker plugin from the
worker's environment: the key never travels over the cluster's connections. The command checks every worker's key
fingerprint against its own before any work is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from claimsight.settings import LOCAL_CLUSTER, Settings, check_address
from features.patient_keys import key_fingerprint

if TYPE_CHECKING:
    from distributed import Client

LOCAL_WORKERS = 2


class ClusterError(RuntimeError):
    """The cluster cannot be used: Dask missing, the scheduler unreachable, or workers keyed differently."""


def _peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def worker_peaks(client: Client) -> list[float]:
    """Each worker process's peak resident memory so far, GiB (the bench's figure per worker)."""
    return sorted(float(v) for v in client.run(_peak_rss_gib).values())


def _install_worker_key() -> str:
    """On a worker: its own settings' patient key installed; returns the key's fingerprint (not the key)."""
    Settings().install_patient_key()
    return key_fingerprint()


@contextmanager
def cluster_client(address: str | None) -> Iterator[Client | None]:
    """A Dask client for `address` (None: no cluster, yields None), closed with the command."""
    if address is None:
        yield None
        return
    check_address(address)
    try:
        from distributed import Client, LocalCluster
        from distributed.diagnostics.plugin import WorkerPlugin
    except ImportError:
        raise ClusterError("running on a cluster needs Dask: pip install 'claimsight[cluster]'") from None

    class PatientKeyPlugin(WorkerPlugin):
        """Installs the worker's patient key when it starts: every worker, also one that joins or restarts later."""

        name = "claimsight-patient-key"

        def setup(self, worker: Any) -> None:
            _install_worker_key()

    local = LOCAL_CLUSTER.fullmatch(address)
    if local:
        workers = int(local.group(1) or LOCAL_WORKERS)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None, processes=True)
        client = Client(cluster)
    else:
        cluster = None
        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}") from None
    try:
        client.register_plugin(PatientKeyPlugin())
        prints = client.run(_install_worker_key)
        other = sorted(w for w, fp in prints.items() if fp != key_fingerprint())
        if other:
            raise ClusterError(
                f"{len(other)} of {len(prints)} workers key patient history with another patient key: set the same "
                "CLAIMSIGHT_PATIENT_KEY on every worker as on this machine"
            )
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
