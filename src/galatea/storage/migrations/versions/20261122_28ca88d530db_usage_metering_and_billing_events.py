"""Usage metering and billing events: `usage_days` (messages and tokens per user and UTC day)
and `billing_events` (payment webhook events already applied, against replays).

Both tables are new; no existing row changes.

Revision ID: 28ca88d530db
Revises: f5ba19a8e3f3
Create Date: 2026-11-22 03:36:38.259854
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "28ca88d530db"
down_revision: str | None = "f5ba19a8e3f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this change."""
    op.create_table(
        "usage_days",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("generated_tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_usage_days_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_usage_days")),
    )
    op.create_index(op.f("ix_usage_days_day_user_id"), "usage_days", ["day", "user_id"])

    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
    )
    op.create_index(
        op.f("ix_billing_events_user_id_occurred_at"), "billing_events", ["user_id", "occurred_at"]
    )


def downgrade() -> None:
    """Undo this change."""
    op.drop_index(op.f("ix_billing_events_user_id_occurred_at"), table_name="billing_events")
    op.drop_table("billing_events")
    op.drop_index(op.f("ix_usage_days_day_user_id"), table_name="usage_days")
    op.drop_table("usage_days")
