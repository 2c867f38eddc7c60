"""Text search also looks in the summary a library card shows (creator notes, else the start
of the description).

`characters.search_text` is derived when a character is stored; rows stored before this
revision get their summary appended here, case-folded, exactly as the repository now writes
it. Going back removes that last line again.

Revision ID: 62af828c0eb2
Revises: 92dfff330d6c
Create Date: 2026-11-22 07:25:00.000000
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "62af828c0eb2"
down_revision: str | None = "92dfff330d6c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500


def upgrade() -> None:
    """Apply this change."""

    def with_summary(search_text: str, summary: str) -> str:
        return "\n".join(part for part in (search_text, summary.casefold()) if part)

    _rewrite(with_summary)


def downgrade() -> None:
    """Undo this change."""

    def without_summary(search_text: str, summary: str) -> str:
        ending = summary.casefold()
        if not ending or not search_text.endswith(ending):
            return search_text
        return search_text[: -len(ending)].removesuffix("\n")

    _rewrite(without_summary)


def _rewrite(change: Callable[[str, str], str]) -> None:
    """Apply `change(search_text, summary)` to every character row, in batches by id."""
    bind = op.get_bind()
    characters = sa.table(
        "characters",
        sa.column("id", sa.String),
        sa.column("search_text", sa.Text),
        sa.column("summary", sa.Text),
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(characters.c.id, characters.c.search_text, characters.c.summary)
            .where(characters.c.id > after)
            .order_by(characters.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            new = change(row.search_text, row.summary)
            if new != row.search_text:
                bind.execute(
                    characters.update().where(characters.c.id == row.id).values(search_text=new)
                )
        after = rows[-1].id
