"""The team workspace's web pages, served by the scoring service's app under `/app` (`mount_workspace`).

The pages talk to a `WorkspaceBackend` (backend.py): `SqlBackend` (sql_backend.py) over the workspace
database, `MemoryBackend` (memory.py) in memory for tests.
"""

from serving.workspace.web.app import PUBLIC_PATHS, Workspace, WorkspaceOptions, mount_workspace
from serving.workspace.web.backend import WorkspaceBackend
from serving.workspace.web.memory import MemoryBackend
from serving.workspace.web.sql_backend import SqlBackend

__all__ = [
    "PUBLIC_PATHS",
    "MemoryBackend",
    "SqlBackend",
    "Workspace",
    "WorkspaceBackend",
    "WorkspaceOptions",
    "mount_workspace",
]
