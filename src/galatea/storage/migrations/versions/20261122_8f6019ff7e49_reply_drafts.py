"""Reply drafts: `reply_drafts` keeps the text of a reply while it is being written, so that a
process that dies mid-reply leaves an incomplete message behind instead of nothing.

The table is new; no existing row changes.

Revision ID: 8f6019ff7e49
Revises: 62af828c0eb2
Create Date: 2026-11-22 07:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8f6019ff7e49"
down_revision: str | None = "62af828c0eb2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this change."""
    op.create_table(
        "reply_drafts",
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('reply', 'regenerate', 'continue')", name=op.f("ck_reply_drafts_kind")
        ),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["chats.id"],
            name=op.f("fk_reply_drafts_chat_id_chats"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_reply_drafts")),
    )
    op.create_index(op.f("ix_reply_drafts_updated_at"), "reply_drafts", ["updated_at"])


def downgrade() -> None:
    """Undo this change (drafts of replies running at that moment are lost)."""
    op.drop_index(op.f("ix_reply_drafts_updated_at"), table_name="reply_drafts")
    op.drop_table("reply_drafts")
