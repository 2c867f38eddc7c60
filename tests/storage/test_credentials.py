"""Sessions and API tokens in SQL: found by hash, listed per user, ended in bulk."""

from sqlalchemy import delete

from galatea.core.users import ApiToken, User, UserSession
from galatea.storage.tables import UserRow
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START
from tests.storage.factories import add_user, later


def _session(user: User, session_id: str, *, seen: float = 0, expires: float = 60) -> UserSession:
    return UserSession(
        id=session_id,
        user_id=user.id,
        created_at=START,
        last_seen_at=later(seen),
        expires_at=later(expires),
        csrf_token=f"csrf-{session_id}",
        user_agent="Firefox",
        address="192.0.2.1",
    )


async def test_sessions_are_found_by_token_hash_and_touched(uow: SqlUnitOfWorkFactory) -> None:
    user = await add_user(uow, "alice")
    session = _session(user, "s1")
    async with uow() as work:
        await work.sessions.add(session, "hash-1")
        await work.sessions.touch("s1", later(9))
        await work.commit()
        assert await work.sessions.get_by_token_hash("hash-2") is None
        stored = await work.sessions.get_by_token_hash("hash-1")
    assert stored is not None
    assert stored.last_seen_at == later(9)
    assert (stored.csrf_token, stored.user_agent, stored.address) == (
        "csrf-s1",
        "Firefox",
        "192.0.2.1",
    )


async def test_ending_all_but_one_session(uow: SqlUnitOfWorkFactory) -> None:
    alice, bob = await add_user(uow, "alice"), await add_user(uow, "bob")
    async with uow() as work:
        for index in range(3):
            await work.sessions.add(_session(alice, f"a{index}", seen=index), f"ha{index}")
        await work.sessions.add(_session(bob, "b0"), "hb0")
        assert await work.sessions.delete_for_user(alice.id, except_id="a1") == 2
        await work.commit()
        assert [s.id for s in await work.sessions.list_for_user(alice.id)] == ["a1"]
        assert [s.id for s in await work.sessions.list_for_user(bob.id)] == ["b0"]


async def test_expired_and_idle_sessions_are_pruned(uow: SqlUnitOfWorkFactory) -> None:
    user = await add_user(uow, "alice")
    async with uow() as work:
        await work.sessions.add(_session(user, "fresh", seen=50, expires=100), "h1")
        await work.sessions.add(_session(user, "idle", seen=0, expires=100), "h2")
        await work.sessions.add(_session(user, "over", seen=50, expires=55), "h3")
        deleted = await work.sessions.delete_expired(now=later(60), idle_since=later(10))
        await work.commit()
        assert deleted == 2
        assert [s.id for s in await work.sessions.list_for_user(user.id)] == ["fresh"]


async def test_api_tokens_round_trip_and_are_revoked(uow: SqlUnitOfWorkFactory) -> None:
    user = await add_user(uow, "alice")
    token = ApiToken(id="t1", user_id=user.id, name="laptop", hint="abcd", created_at=START)
    async with uow() as work:
        await work.api_tokens.add(token, "token-hash")
        await work.commit()
        assert await work.api_tokens.get_by_token_hash("token-hash") == token
        await work.api_tokens.touch("t1", later(3))
        assert (await work.api_tokens.list_for_user(user.id))[0].last_used_at == later(3)
        assert await work.api_tokens.delete_for_user(user.id) == 1
        assert await work.api_tokens.get_by_token_hash("token-hash") is None


async def test_deleting_a_user_removes_their_sessions_and_tokens(
    uow: SqlUnitOfWorkFactory,
) -> None:
    user = await add_user(uow, "alice")
    async with uow() as work:
        await work.sessions.add(_session(user, "s1"), "h1")
        await work.api_tokens.add(
            ApiToken(id="t1", user_id=user.id, name="n", hint="h", created_at=START), "h2"
        )
        await work.commit()
    async with uow.database.session(write=True) as session:
        await session.execute(delete(UserRow).where(UserRow.id == user.id))
        await session.commit()
    async with uow(write=False) as work:
        assert await work.sessions.get_by_token_hash("h1") is None
        assert await work.api_tokens.get_by_token_hash("h2") is None
