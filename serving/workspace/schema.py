"""The workspace's tables, declared once with SQLAlchemy Core.

The migrations in `serving/workspace/migrations` create exactly these tables (a test compares them with
alembic's `compare_metadata` on SQLite and PostgreSQL), so this module is what the code reads and writes,
and the migrations are how a database gets there. A change here needs a new migration.

Values with a fixed vocabulary are strings with a CHECK constraint rather than database enums: the same
DDL runs on both backends, and adding a value later is a constraint swap, not an ALTER TYPE.

Every timestamp is stored in UTC (`UTCDateTime`): SQLite keeps no offset, so an aware value is converted
to UTC before it is written and read back as UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

from features.contract.schema import FOLLOWUP_OUTCOMES, TEAM_ACTIONS

ROLES = ("specialist", "reviewer", "manager", "admin")
ITEM_STATES = ("open", "in_progress", "sent", "resolved")
RESOLUTIONS = ("paid", "partly_paid", "upheld", "billed_patient", "written_off")
EVENTS = ("opened", "assigned", "worked", "sent", "resolved", "reopened")
DRAFT_KINDS = ("appeal_letter", "corrected_claim_checklist")
REVIEW_DECISIONS = ("fixed", "released", "held")
APPEAL_LEVELS = (1, 2, 3)  # DATA.md followups.level: 3 is external review

ID_CHARS = 64  # claim, remit and payer ids as DATA.md carries them
REF_CHARS = 32  # a keyed claim reference: 16 bytes as hex

# Constraint names are fixed by convention, so the migration and the metadata agree on both backends.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend; a naive value is refused (its zone is a guess)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("workspace timestamps must be timezone-aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _null_or_one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IS NULL OR {_one_of(column, values)}"


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=True),  # as letters are signed; None = the username
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(_one_of("role", ROLES), name="role"),
    CheckConstraint("failed_logins >= 0", name="failed_logins"),
)

# Failed sign-ins with a username that has no account, counted like an account's so that the answers (wrong
# password, then locked) are the same whether or not the name exists. Keyed by a hash of the name as typed
# (casefolded): people type passwords into the username box, and this table must not keep them readable.
unknown_logins = Table(
    "unknown_logins",
    metadata,
    Column("name_hash", String(64), primary_key=True),  # SHA-256 hex of the casefolded, stripped username
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("failed_logins >= 0", name="failed_logins"),
)

login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
)

work_items = Table(
    "work_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("claim_id", String(ID_CHARS), nullable=False),
    Column("remit_id", String(ID_CHARS), nullable=False),  # the remit that denied it
    Column("payer_id", String(ID_CHARS), nullable=True),
    Column("category", String(32), nullable=True),
    Column("action", String(32), nullable=True),  # ClaimSight's recommended action
    Column("queue_rank", Integer, nullable=True),
    Column("expected_dollars", Float, nullable=True),
    Column("denied_amount", Float, nullable=True),
    Column("minutes", Float, nullable=True),  # planned minutes of work
    Column("deadline", Date, nullable=True),
    Column("deadline_rule", Text, nullable=True),
    Column("snapshot", Text, nullable=False),  # the queue row as JSON, as it was last synced
    Column("owner_id", Integer, ForeignKey("users.id"), nullable=True, index=True),
    Column("state", String(16), nullable=False, server_default=text("'open'")),
    Column("resolution", String(16), nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", Integer, ForeignKey("users.id"), nullable=True),  # None: the system (a sync, a remit)
    UniqueConstraint("claim_id", "remit_id"),
    Index(None, "state", "queue_rank"),
    CheckConstraint(_one_of("state", ITEM_STATES), name="state"),
    CheckConstraint(_null_or_one_of("resolution", RESOLUTIONS), name="resolution"),
    CheckConstraint("(state = 'resolved') = (resolution IS NOT NULL)", name="resolved_has_resolution"),
    CheckConstraint("version >= 1", name="version"),
)

work_events = Table(
    "work_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("work_items.id"), nullable=False, index=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),  # None: the system
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(16), nullable=False),
    Column("action", String(32), nullable=True),  # a followups action (TEAM_ACTIONS)
    Column("level", Integer, nullable=True),
    Column("minutes", Float, nullable=True),
    Column("note", Text, nullable=True),
    Column("owner_id", Integer, ForeignKey("users.id"), nullable=True),  # on `assigned`: the new owner
    Column("resolution", String(16), nullable=True),  # on `resolved`
    Column("outcome", String(16), nullable=True),  # on `resolved`: the payer's answer as a followups outcome
    Column("version", Integer, nullable=False),  # the item's version this event produced
    CheckConstraint(_one_of("event", EVENTS), name="event"),
    CheckConstraint(_null_or_one_of("action", TEAM_ACTIONS), name="action"),
    CheckConstraint("level IS NULL OR level IN (1, 2, 3)", name="level"),
    CheckConstraint("minutes IS NULL OR minutes >= 0", name="minutes"),
    CheckConstraint(_null_or_one_of("resolution", RESOLUTIONS), name="resolution"),
    CheckConstraint(_null_or_one_of("outcome", FOLLOWUP_OUTCOMES), name="outcome"),
)

drafts = Table(
    "drafts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("work_items.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("item_id", "kind"),
    CheckConstraint(_one_of("kind", DRAFT_KINDS), name="kind"),
    CheckConstraint("version >= 1", name="version"),
)

capacity = Table(
    "capacity",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("minutes_per_day", Integer, nullable=False),
    Column("updated_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("minutes_per_day >= 0 AND minutes_per_day <= 1440", name="minutes_per_day"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("claim_id", String(ID_CHARS), nullable=False, unique=True),  # the claim held before release
    Column("decision", String(16), nullable=False),
    Column("note", Text, nullable=False, server_default=text("''")),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint(_one_of("decision", REVIEW_DECISIONS), name="decision"),
    CheckConstraint("version >= 1", name="version"),
)

# The claims flagged for pre-release review (the `claimsight score claims` output rows whose decision is
# "review"), as the last sync loaded them; the reviewer's decisions are in `reviews`.
review_claims = Table(
    "review_claims",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("claim_id", String(ID_CHARS), nullable=False, unique=True),
    Column("payer_id", String(ID_CHARS), nullable=True),
    Column("service_date", Date, nullable=True),
    Column("billed_amount", Float, nullable=True),
    Column("p_denial", Float, nullable=False),
    Column("snapshot", Text, nullable=False),  # the scored row as JSON (reasons, preventive actions)
    Column("flagged_at", UTCDateTime, nullable=False),
    CheckConstraint("p_denial >= 0 AND p_denial <= 1", name="p_denial"),
)

phi_views = Table(
    "phi_views",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("route", String(256), nullable=False),  # the route template, never the raw path
    Column("item_id", Integer, nullable=True),  # not a foreign key: the log outlives what it names
    Column("claim_refs", Text, nullable=False),  # JSON list of keyed claim references, never raw ids
)

APPEND_ONLY_TABLES = ("work_events", "phi_views")

__all__ = [
    "APPEAL_LEVELS",
    "APPEND_ONLY_TABLES",
    "DRAFT_KINDS",
    "EVENTS",
    "ITEM_STATES",
    "RESOLUTIONS",
    "REVIEW_DECISIONS",
    "ROLES",
    "UTCDateTime",
    "capacity",
    "drafts",
    "login_sessions",
    "metadata",
    "phi_views",
    "review_claims",
    "reviews",
    "unknown_logins",
    "users",
    "work_events",
    "work_items",
]
