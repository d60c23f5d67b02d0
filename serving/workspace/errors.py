"""What the workspace store refuses, as exceptions a page can show as they are.

Messages name items by their workspace number, people by username and times in UTC: never a claim id, a
patient or what someone typed (those may be PHI), so a message is safe to log and to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


class WorkspaceError(Exception):
    """Base of everything the store refuses on purpose."""


class NotFound(WorkspaceError, LookupError):
    """No such item, user, draft or review."""


class InvalidChange(WorkspaceError, ValueError):
    """The change does not fit the item's state or the vocabulary (a resolved item worked, an unknown action)."""


class NotPermitted(WorkspaceError, PermissionError):
    """The person may not make this change (the item is someone else's, the account is inactive)."""


class EditConflict(WorkspaceError):
    """Someone else saved the record after this person loaded it, so nothing was written.

    `attempted` holds what the person tried to save (their unsaved input) so the page can show it again next
    to the current version; it is never part of the message. `changed_by`/`changed_at` say who saved last.
    `current` is the record as it is now, in whatever shape the caller shows it (the web pages put their view
    of the item or review claim there, `with_current`); None when the store raised it.
    """

    def __init__(
        self,
        *,
        what: str,
        expected_version: int,
        current_version: int | None,
        changed_by: str | None,
        changed_at: dt.datetime | None,
        attempted: Mapping[str, Any] | None = None,
        current: Any = None,
    ) -> None:
        self.what = what
        self.expected_version = expected_version
        self.current_version = current_version
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.attempted = dict(attempted or {})
        self.current = current
        super().__init__(self._message())

    def with_current(self, current: Any) -> EditConflict:
        """The same conflict carrying `current` (the record as the page shows it now)."""
        return EditConflict(
            what=self.what,
            expected_version=self.expected_version,
            current_version=self.current_version,
            changed_by=self.changed_by,
            changed_at=self.changed_at,
            attempted=self.attempted,
            current=current,
        )

    def _message(self) -> str:
        if self.current_version is None:
            return f"{self.what} was removed by someone else; your changes were not saved"
        who = self.changed_by or "the system"
        when = f" at {self.changed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" if self.changed_at else ""
        return (
            f"{self.what} was changed by {who}{when} after you opened it (version {self.current_version}, "
            f"you had {self.expected_version}); nothing was saved: reload it, your input is kept"
        )


__all__ = ["EditConflict", "InvalidChange", "NotFound", "NotPermitted", "WorkspaceError"]
