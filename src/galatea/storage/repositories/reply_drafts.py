"""Drafts of replies being written, in SQL: one row per chat, rewritten as the reply grows."""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.chats import DraftKind, ReplyDraft
from galatea.storage.tables import ReplyDraftRow


class SqlReplyDraftRepository:
    """Reply drafts in the `reply_drafts` table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save(self, draft: ReplyDraft) -> bool:
        """Write the chat's draft (replacing its text); False when the chat no longer exists."""
        values: dict[str, Any] = {
            "kind": draft.kind,
            "name": draft.name,
            "parent_id": draft.parent_id,
            "target_id": draft.target_id,
            "text": draft.text,
            "started_at": draft.started_at,
            "updated_at": draft.updated_at,
        }
        changed = await self._session.execute(
            update(ReplyDraftRow).where(ReplyDraftRow.chat_id == draft.chat_id).values(**values)
        )
        if changed.rowcount:  # type: ignore[attr-defined]
            return True
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(ReplyDraftRow).values(chat_id=draft.chat_id, **values)
                )
        except IntegrityError:
            return False
        return True

    async def delete(self, chat_id: str) -> None:
        """Forget the chat's draft (its reply was saved)."""
        await self._session.execute(delete(ReplyDraftRow).where(ReplyDraftRow.chat_id == chat_id))

    async def stale(self, before: datetime, *, limit: int = 100) -> list[ReplyDraft]:
        """Drafts not refreshed since `before`, oldest first."""
        query = (
            select(ReplyDraftRow)
            .where(ReplyDraftRow.updated_at < before)
            .order_by(ReplyDraftRow.updated_at, ReplyDraftRow.chat_id)
            .limit(limit)
        )
        return [_to_draft(row) for row in (await self._session.scalars(query)).all()]

    async def claim(self, draft: ReplyDraft) -> bool:
        """Remove this exact draft (unchanged since it was read); False if another process
        claimed it first or its reply refreshed it meanwhile."""
        removed = await self._session.execute(
            delete(ReplyDraftRow).where(
                ReplyDraftRow.chat_id == draft.chat_id,
                ReplyDraftRow.updated_at == draft.updated_at,
            )
        )
        return bool(removed.rowcount)  # type: ignore[attr-defined]


def _to_draft(row: ReplyDraftRow) -> ReplyDraft:
    return ReplyDraft(
        chat_id=row.chat_id,
        kind=cast(DraftKind, row.kind),
        name=row.name,
        parent_id=row.parent_id,
        target_id=row.target_id,
        text=row.text,
        started_at=row.started_at,
        updated_at=row.updated_at,
    )
