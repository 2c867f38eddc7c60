"""Library indexes for listings that include adult characters (age-confirmed viewers).

Revision ID: 7fa1ef925c0c
Revises: 28ca88d530db
Create Date: 2026-11-22 04:22:54.734463
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7fa1ef925c0c"
down_revision: str | None = "28ca88d530db"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this change."""
    with op.batch_alter_table("characters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_characters_visibility_chat_count_created_at_id"),
            ["visibility", "chat_count", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_characters_visibility_created_at_id"),
            ["visibility", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    """Undo this change."""
    with op.batch_alter_table("characters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_characters_visibility_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_characters_visibility_chat_count_created_at_id"))
