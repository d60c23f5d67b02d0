"""The workspace's first tables: users and sessions, the appeal queue's items and their history, drafts,
capacity, pre-release reviews and the log of PHI views; work_events and phi_views append-only.

Revision ID: 0001
Revises:
Create Date: 2026-12-05

A migration is frozen once released: it spells out its DDL instead of importing serving.workspace.schema,
which describes only the newest shape.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TEAM_ACTIONS = ("corrected_claim", "appeal", "reconsideration", "payer_call", "write_off", "bill_patient")
OUTCOMES = ("overturned", "partial", "upheld", "pending", "no_response")
RESOLUTIONS = ("paid", "partly_paid", "upheld", "billed_patient", "written_off")
APPEND_ONLY = ("work_events", "phi_views")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _null_or_one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IS NULL OR {_one_of(column, values)}"


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
    ]


def _postgres_triggers(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION workspace_append_only()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION workspace_append_only()""",
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _ts("locked_until", nullable=True),
        _ts("created_at"),
        sa.CheckConstraint(_one_of("role", ("specialist", "reviewer", "manager", "admin")), name="ck_users_role"),
        sa.CheckConstraint("failed_logins >= 0", name="ck_users_failed_logins"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("last_seen_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_login_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_login_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_login_sessions_token_hash"),
    )
    op.create_index("ix_login_sessions_user_id", "login_sessions", ["user_id"])
    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.String(64), nullable=False),
        sa.Column("remit_id", sa.String(64), nullable=False),
        sa.Column("payer_id", sa.String(64), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("queue_rank", sa.Integer(), nullable=True),
        sa.Column("expected_dollars", sa.Float(), nullable=True),
        sa.Column("denied_amount", sa.Float(), nullable=True),
        sa.Column("minutes", sa.Float(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("deadline_rule", sa.Text(), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(_one_of("state", ("open", "in_progress", "sent", "resolved")), name="ck_work_items_state"),
        sa.CheckConstraint(_null_or_one_of("resolution", RESOLUTIONS), name="ck_work_items_resolution"),
        sa.CheckConstraint(
            "(state = 'resolved') = (resolution IS NOT NULL)", name="ck_work_items_resolved_has_resolution"
        ),
        sa.CheckConstraint("version >= 1", name="ck_work_items_version"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_work_items_owner_id_users"),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name="fk_work_items_updated_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_work_items"),
        sa.UniqueConstraint("claim_id", "remit_id", name="uq_work_items_claim_id_remit_id"),
    )
    op.create_index("ix_work_items_owner_id", "work_items", ["owner_id"])
    op.create_index("ix_work_items_state_queue_rank", "work_items", ["state", "queue_rank"])
    op.create_table(
        "work_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        _ts("at"),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("minutes", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            _one_of("event", ("opened", "assigned", "worked", "sent", "resolved", "reopened")),
            name="ck_work_events_event",
        ),
        sa.CheckConstraint(_null_or_one_of("action", TEAM_ACTIONS), name="ck_work_events_action"),
        sa.CheckConstraint("level IS NULL OR level IN (1, 2, 3)", name="ck_work_events_level"),
        sa.CheckConstraint("minutes IS NULL OR minutes >= 0", name="ck_work_events_minutes"),
        sa.CheckConstraint(_null_or_one_of("resolution", RESOLUTIONS), name="ck_work_events_resolution"),
        sa.CheckConstraint(_null_or_one_of("outcome", OUTCOMES), name="ck_work_events_outcome"),
        sa.ForeignKeyConstraint(["item_id"], ["work_items.id"], name="fk_work_events_item_id_work_items"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_work_events_user_id_users"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_work_events_owner_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_work_events"),
    )
    op.create_index("ix_work_events_item_id", "work_events", ["item_id"])
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.CheckConstraint(_one_of("kind", ("appeal_letter", "corrected_claim_checklist")), name="ck_drafts_kind"),
        sa.CheckConstraint("version >= 1", name="ck_drafts_version"),
        sa.ForeignKeyConstraint(["item_id"], ["work_items.id"], name="fk_drafts_item_id_work_items"),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name="fk_drafts_updated_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_drafts"),
        sa.UniqueConstraint("item_id", "kind", name="uq_drafts_item_id_kind"),
    )
    op.create_table(
        "capacity",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("minutes_per_day", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint("minutes_per_day >= 0 AND minutes_per_day <= 1440", name="ck_capacity_minutes_per_day"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_capacity_user_id_users"),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name="fk_capacity_updated_by_users"),
        sa.PrimaryKeyConstraint("user_id", name="pk_capacity"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(_one_of("decision", ("fixed", "released", "held")), name="ck_reviews_decision"),
        sa.CheckConstraint("version >= 1", name="ck_reviews_version"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_reviews_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.UniqueConstraint("claim_id", name="uq_reviews_claim_id"),
    )
    op.create_table(
        "phi_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("route", sa.String(256), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("claim_refs", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_phi_views_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_phi_views"),
    )
    op.create_index("ix_phi_views_user_id", "phi_views", ["user_id"])

    dialect = op.get_bind().dialect.name
    statements: list[str] = []
    if dialect == "sqlite":
        statements = [s for table in APPEND_ONLY for s in _sqlite_triggers(table)]
    elif dialect == "postgresql":
        statements = [
            """CREATE FUNCTION workspace_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END; $$""",
            *(s for table in APPEND_ONLY for s in _postgres_triggers(table)),
        ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    # Dropping a table drops its triggers; the PostgreSQL function goes last.
    for table in ("phi_views", "reviews", "capacity", "drafts", "work_events", "work_items", "login_sessions", "users"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS workspace_append_only()")
