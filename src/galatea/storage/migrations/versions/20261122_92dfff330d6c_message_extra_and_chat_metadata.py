"""Data kept for export: `messages.extra` (a message's SillyTavern fields Galatea does not use
itself: model, token counts, reasoning, swipe details, ...) and `chats.chat_metadata` (an
imported chat's `chat_metadata`: author's note settings, variables, ...).

Both are JSON objects; rows already stored get an empty object, so existing chats read and
export as before. SQLite adds the columns in place (no table rebuild).

Revision ID: 92dfff330d6c
Revises: 7fa1ef925c0c
Create Date: 2026-11-22 05:28:13.652371
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "92dfff330d6c"
down_revision: str | None = "7fa1ef925c0c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_OBJECT = sa.text("'{}'")


def upgrade() -> None:
    """Apply this change."""
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chat_metadata", sa.JSON(), server_default=EMPTY_OBJECT, nullable=False)
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("extra", sa.JSON(), server_default=EMPTY_OBJECT, nullable=False)
        )


def downgrade() -> None:
    """Undo this change (the kept data is dropped)."""
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("extra")
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_column("chat_metadata")
