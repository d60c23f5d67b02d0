"""What the web pages need from the store: people's display names, failed sign-ins with unknown usernames
(counted like an account's, so a lock-out does not tell which usernames exist), and the claims flagged for
pre-release review.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-12

Frozen once released, like 0001: the DDL is spelled out here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("display_name", sa.String(128), nullable=True))  # SQLite adds it in place
    op.create_table(
        "unknown_logins",
        sa.Column("name_hash", sa.String(64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("failed_logins >= 0", name="ck_unknown_logins_failed_logins"),
        sa.PrimaryKeyConstraint("name_hash", name="pk_unknown_logins"),
    )
    op.create_table(
        "review_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.String(64), nullable=False),
        sa.Column("payer_id", sa.String(64), nullable=True),
        sa.Column("service_date", sa.Date(), nullable=True),
        sa.Column("billed_amount", sa.Float(), nullable=True),
        sa.Column("p_denial", sa.Float(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("p_denial >= 0 AND p_denial <= 1", name="ck_review_claims_p_denial"),
        sa.PrimaryKeyConstraint("id", name="pk_review_claims"),
        sa.UniqueConstraint("claim_id", name="uq_review_claims_claim_id"),
    )


def downgrade() -> None:
    op.drop_table("review_claims")
    op.drop_table("unknown_logins")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("display_name")
