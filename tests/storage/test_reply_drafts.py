"""Reply drafts in SQL: written and rewritten, found when stale, claimed exactly once."""

from dataclasses import replace
from datetime import timedelta

from galatea.core.chats import ReplyDraft
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START
from tests.storage.factories import add_character, add_chat, add_user


async def _chat(uow: SqlUnitOfWorkFactory) -> str:
    owner = await add_user(uow, "owner")
    character = await add_character(uow, owner)
    return (await add_chat(uow, owner, character)).id


def _draft(chat_id: str, text: str = "Once upon", minutes: float = 0) -> ReplyDraft:
    return ReplyDraft(
        chat_id=chat_id,
        kind="reply",
        name="Wren",
        parent_id="parent",
        target_id=None,
        text=text,
        started_at=START,
        updated_at=START + timedelta(minutes=minutes),
    )


async def test_a_draft_is_rewritten_in_place_and_found_once_stale(
    uow: SqlUnitOfWorkFactory,
) -> None:
    chat_id = await _chat(uow)
    async with uow() as work:
        assert await work.reply_drafts.save(_draft(chat_id, "Once upon"))
        assert await work.reply_drafts.save(_draft(chat_id, "Once upon a time", minutes=1))
        await work.commit()
    async with uow(write=False) as work:
        assert await work.reply_drafts.stale(START + timedelta(minutes=1)) == []
        (found,) = await work.reply_drafts.stale(START + timedelta(minutes=2))
    assert found == _draft(chat_id, "Once upon a time", minutes=1)


async def test_a_draft_is_claimed_once_and_not_after_a_refresh(
    uow: SqlUnitOfWorkFactory,
) -> None:
    chat_id = await _chat(uow)
    old = _draft(chat_id)
    async with uow() as work:
        await work.reply_drafts.save(old)
        await work.commit()
    async with uow() as work:
        # The reply refreshed its draft after `old` was read: the claim must fail.
        await work.reply_drafts.save(replace(old, updated_at=START + timedelta(seconds=2)))
        assert not await work.reply_drafts.claim(old)
        await work.commit()
    async with uow() as work:
        (current,) = await work.reply_drafts.stale(START + timedelta(minutes=5))
        assert await work.reply_drafts.claim(current)
        assert not await work.reply_drafts.claim(current)
        await work.commit()
    async with uow(write=False) as work:
        assert await work.reply_drafts.stale(START + timedelta(days=1)) == []


async def test_a_draft_for_a_missing_chat_is_refused_and_goes_with_its_chat(
    uow: SqlUnitOfWorkFactory,
) -> None:
    chat_id = await _chat(uow)
    async with uow() as work:
        assert not await work.reply_drafts.save(_draft("no-such-chat"))
        assert await work.reply_drafts.save(_draft(chat_id))
        await work.chats.delete(chat_id)
        await work.commit()
    async with uow(write=False) as work:
        assert await work.reply_drafts.stale(START + timedelta(days=1)) == []
