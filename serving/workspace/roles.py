"""Who may do what in the workspace, as one table the server checks on every route (never only the page).

Minimum necessary: each role gets what its job needs. A specialist works denials; a reviewer decides on
claims held before release; a manager runs the team (assigns work, sets capacity, sees everyone's queue,
exports the recorded work for retraining, reads the leader's dashboard and decides there on learned edits
and prevention fixes) and can work items too; an admin
manages accounts and sees no claim (nor the dashboard: it is the team's business, not the accounts'). A
team that wants another split changes `ROLE_PERMISSIONS`, not the routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from serving.workspace.schema import ROLES

Permission = Literal[
    "view_queue",  # see the appeal queue (own items and unassigned ones)
    "work_items",  # record work, send, resolve, reopen, draft letters
    "review_claims",  # decide on claims held before release
    "assign_items",  # give an item to someone, take it back
    "set_capacity",  # minutes per day of each person
    "view_team_queue",  # every item, whoever owns it
    "export_followups",  # write recorded work as followups rows for retraining
    "manage_users",  # create, deactivate, unlock accounts, change roles
    "view_dashboard",  # the leader's dashboard: the team's KPIs, work and model health (aggregates only)
    "decide_prevention",  # on the dashboard: accept or reject learned edits, mark prevention fixes done or undo
]
PERMISSIONS: tuple[str, ...] = get_args(Permission)

ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "specialist": frozenset({"view_queue", "work_items"}),
        "reviewer": frozenset({"review_claims"}),
        "manager": frozenset(
            {
                "view_queue",
                "work_items",
                "assign_items",
                "set_capacity",
                "view_team_queue",
                "export_followups",
                "view_dashboard",
                "decide_prevention",
            }
        ),
        "admin": frozenset({"manage_users"}),
    }
)


def can(role: str, permission: str) -> bool:
    """Whether `role` may do `permission`. An unknown role or permission is a programming error (a typo in a
    route would otherwise deny, or worse allow, silently), so it raises ValueError."""
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r} (one of {', '.join(PERMISSIONS)})")
    return permission in ROLE_PERMISSIONS[role]


__all__ = ["PERMISSIONS", "ROLES", "ROLE_PERMISSIONS", "Permission", "can"]
