"""The team workspace's web pages, served by the scoring service's app under `/app` (`mount_workspace`).

The pages talk to a `WorkspaceBackend` (backend.py): `SqlBackend` (sql_backend.py) over the workspace
database, `MemoryBackend` (memory.py) in memory for tests. Single sign-on by a reverse proxy's header is
opt-in (`HeaderSso`, sso.py).
"""

from serving.workspace.web.app import PUBLIC_PATHS, Workspace, WorkspaceOptions, mount_workspace
from serving.workspace.web.backend import WorkspaceBackend
from serving.workspace.web.memory import MemoryBackend
from serving.workspace.web.sql_backend import SqlBackend
from serving.workspace.web.sso import HeaderSso

__all__ = [
    "PUBLIC_PATHS",
    "HeaderSso",
    "MemoryBackend",
    "SqlBackend",
    "Workspace",
    "WorkspaceBackend",
    "WorkspaceOptions",
    "mount_workspace",
]
