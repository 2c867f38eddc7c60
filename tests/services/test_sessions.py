"""Sign-in sessions: opaque tokens stored as hashes, absolute and idle expiry, sign-out,
and a user's control over their own sessions."""

import hashlib
from dataclasses import replace

import pytest

from galatea.bootstrap import Services
from galatea.core.users import User
from galatea.services.errors import AuthenticationFailed, NotFound
from galatea.services.sessions import SessionService
from tests.conftest import FakeClock

PASSWORD = "correct horse battery staple"
HOME = "192.0.2.10"


@pytest.fixture
def sessions(services: Services) -> SessionService:
    return services.sessions


@pytest.fixture
async def alice(services: Services) -> User:
    return await services.accounts.sign_up("alice", PASSWORD, address=HOME)


async def test_signing_in_gives_a_fresh_opaque_token_that_resolves_to_the_user(
    services: Services, sessions: SessionService, alice: User
) -> None:
    first = await sessions.sign_in("alice", PASSWORD, address=HOME, user_agent="Firefox")
    second = await sessions.sign_in("alice", PASSWORD, address=HOME)
    assert first.token != second.token
    assert len(first.token) >= 43  # 256 bits, base64
    active = await sessions.resolve(first.token)
    assert active is not None
    assert (active.user.id, active.session.id, active.session.user_agent) == (
        alice.id,
        first.session.id,
        "Firefox",
    )
    assert first.session.csrf_token != second.session.csrf_token
    async with services.uow(write=False) as work:
        assert await work.sessions.get_by_token_hash(first.token) is None
        digest = hashlib.sha256(first.token.encode()).hexdigest()
        assert await work.sessions.get_by_token_hash(digest) is not None


async def test_wrong_credentials_start_no_session(sessions: SessionService, alice: User) -> None:
    with pytest.raises(AuthenticationFailed):
        await sessions.sign_in("alice", "not the password", address=HOME)
    assert await sessions.list_sessions(alice) == []


@pytest.mark.parametrize("token", ["", "x" * 5000, "tökén", "not-a-session"])
async def test_unknown_or_malformed_tokens_resolve_to_nobody(
    sessions: SessionService, token: str
) -> None:
    assert await sessions.resolve(token) is None


async def test_a_session_ends_at_its_absolute_lifetime_however_active(
    sessions: SessionService, alice: User, clock: FakeClock
) -> None:
    grant = await sessions.start(alice, address=HOME)
    for _ in range(29):
        clock.advance(days=1)
        assert await sessions.resolve(grant.token) is not None
    clock.advance(days=1)
    assert await sessions.resolve(grant.token) is None
    assert await sessions.list_sessions(alice) == []


async def test_an_idle_session_ends_and_activity_keeps_it_alive(
    sessions: SessionService, alice: User, clock: FakeClock
) -> None:
    used = await sessions.start(alice, address=HOME)
    idle = await sessions.start(alice, address=HOME)
    for _ in range(4):
        clock.advance(days=2)
        assert await sessions.resolve(used.token) is not None
    assert await sessions.resolve(idle.token) is None


async def test_activity_is_written_at_most_every_few_minutes(
    sessions: SessionService, alice: User, clock: FakeClock
) -> None:
    grant = await sessions.start(alice, address=HOME)
    started = clock.now()
    clock.advance(minutes=1)
    await sessions.resolve(grant.token)
    assert (await sessions.list_sessions(alice))[0].last_seen_at == started
    clock.advance(minutes=5)
    await sessions.resolve(grant.token)
    assert (await sessions.list_sessions(alice))[0].last_seen_at == clock.now()


async def test_signing_out_ends_the_session_for_good(sessions: SessionService, alice: User) -> None:
    grant = await sessions.start(alice, address=HOME)
    await sessions.sign_out(grant.token)
    await sessions.sign_out(grant.token)
    await sessions.sign_out("")
    assert await sessions.resolve(grant.token) is None


async def test_users_list_and_end_only_their_own_sessions(
    services: Services, sessions: SessionService, alice: User
) -> None:
    bob = await services.accounts.sign_up("bob", PASSWORD, address=HOME)
    mine = await sessions.start(alice, address=HOME)
    other = await sessions.start(alice, address="198.51.100.1")
    bobs = await sessions.start(bob, address=HOME)
    assert {s.id for s in await sessions.list_sessions(alice)} == {
        mine.session.id,
        other.session.id,
    }
    with pytest.raises(NotFound):
        await sessions.end_session(alice, bobs.session.id)
    assert await sessions.resolve(bobs.token) is not None
    await sessions.end_session(alice, other.session.id)
    assert await sessions.resolve(other.token) is None
    assert await sessions.end_other_sessions(alice, mine.session.id) == 0
    assert await sessions.resolve(mine.token) is not None


async def test_a_disabled_users_session_stops_resolving(
    services: Services, sessions: SessionService, alice: User
) -> None:
    grant = await sessions.start(alice, address=HOME)
    async with services.uow() as work:
        await work.users.update(replace(alice, disabled=True))
        await work.commit()
    assert await sessions.resolve(grant.token) is None


async def test_pruning_deletes_ended_sessions(
    sessions: SessionService, alice: User, clock: FakeClock
) -> None:
    await sessions.start(alice, address=HOME)
    clock.advance(days=8)
    kept = await sessions.start(alice, address=HOME)
    assert await sessions.prune() == 1
    assert [s.id for s in await sessions.list_sessions(alice)] == [kept.session.id]
