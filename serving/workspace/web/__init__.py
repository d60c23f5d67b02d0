"""The team workspace's web pages, served by the scoring service's app under `/app` (`mount_workspace`).

The pages talk to a `WorkspaceBackend` (backend.py); `MemoryBackend` (memory.py) is the in-memory one.
"""

from serving.workspace.web.app import PUBLIC_PATHS, Workspace, WorkspaceOptions, mount_workspace
from serving.workspace.web.backend import WorkspaceBackend
from serving.workspace.web.memory import MemoryBackend

__all__ = ["PUBLIC_PATHS", "MemoryBackend", "Workspace", "WorkspaceBackend", "WorkspaceOptions", "mount_workspace"]
