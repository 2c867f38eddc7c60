"""Accounts: sign-up rules, sign-in that neither leaks usernames nor yields to guessing,
password changes that end other sessions, and what only admins may do."""

import asyncio
from dataclasses import replace

import pytest

from galatea.bootstrap import Services
from galatea.core.users import Role, User
from galatea.services.accounts import LOCAL_OPERATOR, AccountPolicy, AccountService
from galatea.services.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    RateLimited,
)
from galatea.services.passwords import Argon2PasswordHasher
from galatea.services.throttle import AttemptThrottle, ThrottleLimits
from tests.conftest import FakeClock

PASSWORD = "correct horse battery staple"
HOME = "192.0.2.10"


class CountingHasher:
    """A real hasher that counts how often a password is checked."""

    def __init__(self, inner: Argon2PasswordHasher) -> None:
        self.inner = inner
        self.verified = 0

    async def hash(self, password: str) -> str:
        return await self.inner.hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return await self.inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.inner.needs_rehash(password_hash)


@pytest.fixture
def accounts(services: Services) -> AccountService:
    return services.accounts


@pytest.fixture
async def alice(accounts: AccountService) -> User:
    return await accounts.sign_up("alice", PASSWORD, address=HOME)


@pytest.fixture
async def root(accounts: AccountService) -> User:
    return await accounts.create_user(LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN)


def _counting(services: Services, hasher: CountingHasher, clock: FakeClock) -> AccountService:
    return AccountService(
        services.uow, hasher, clock, AttemptThrottle(ThrottleLimits()), AccountPolicy()
    )


async def _fail(accounts: AccountService, username: str, address: str | None = HOME) -> None:
    with pytest.raises(AuthenticationFailed):
        await accounts.authenticate(username, "wrong password!", address=address)


async def test_sign_up_creates_an_ordinary_account(services: Services) -> None:
    user = await services.accounts.sign_up("Alice_01", PASSWORD, address=HOME)
    assert (user.username, user.role, user.tier, user.age_confirmed) == (
        "Alice_01",
        Role.USER,
        "free",
        False,
    )
    async with services.uow(write=False) as work:
        stored_hash = await work.users.get_password_hash(user.id)
    assert stored_hash is not None
    assert stored_hash.startswith("$argon2id$")
    assert PASSWORD not in stored_hash


async def test_the_first_account_to_sign_up_is_not_an_admin(accounts: AccountService) -> None:
    user = await accounts.sign_up("first", PASSWORD, address=HOME)
    assert user.role is Role.USER
    assert not await accounts.has_admin()


@pytest.mark.parametrize(
    ("username", "complaint"),
    [
        ("ab", "3 to 32"),
        ("x" * 33, "3 to 32"),
        ("_leading", "starting with a letter or digit"),
        ("spa ce", "3 to 32"),
        ("émile", "3 to 32"),
        ("Admin", "reserved"),
    ],
)
async def test_unacceptable_usernames_are_refused_by_rule(
    accounts: AccountService, username: str, complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        await accounts.sign_up(username, PASSWORD, address=HOME)


async def test_a_username_taken_in_another_case_is_a_conflict(
    accounts: AccountService, alice: User
) -> None:
    with pytest.raises(Conflict, match="taken"):
        await accounts.sign_up("ALICE", PASSWORD, address="192.0.2.99")


async def test_closed_sign_up_is_forbidden_but_admins_still_create_accounts(
    services: Services, root: User
) -> None:
    closed = AccountService(
        services.uow,
        Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1),
        services.clock,
        AttemptThrottle(ThrottleLimits()),
        AccountPolicy(signup_open=False),
    )
    with pytest.raises(Forbidden, match="closed"):
        await closed.sign_up("bob", PASSWORD, address=HOME)
    created = await closed.create_user(root, "bob", PASSWORD)
    assert created.role is Role.USER


async def test_sign_ups_are_limited_per_address(accounts: AccountService, clock: FakeClock) -> None:
    for index in range(5):
        await accounts.sign_up(f"user{index}", PASSWORD, address=HOME)
    with pytest.raises(RateLimited) as limited:
        await accounts.sign_up("user5", PASSWORD, address=HOME)
    assert 0 < limited.value.retry_after <= 30 * 60
    await accounts.sign_up("user5", PASSWORD, address="198.51.100.1")
    clock.advance(minutes=31)
    await accounts.sign_up("user6", PASSWORD, address=HOME)


async def test_the_right_password_signs_in_and_wrong_ones_fail_alike(
    accounts: AccountService, alice: User
) -> None:
    assert await accounts.authenticate("ALICE", PASSWORD, address=HOME) == alice
    with pytest.raises(AuthenticationFailed) as wrong:
        await accounts.authenticate("alice", "not the password", address=HOME)
    with pytest.raises(AuthenticationFailed) as unknown:
        await accounts.authenticate("nobody", "not the password", address=HOME)
    assert str(wrong.value) == str(unknown.value) == "wrong username or password"


async def test_an_unknown_username_costs_the_same_password_check(
    services: Services, clock: FakeClock, password_hasher: Argon2PasswordHasher, alice: User
) -> None:
    hasher = CountingHasher(password_hasher)
    accounts = _counting(services, hasher, clock)
    await _fail(accounts, "alice")
    await _fail(accounts, "nobody")
    await _fail(accounts, "x" * 100_000)
    assert hasher.verified == 3


async def test_eleven_failures_on_one_account_are_refused_from_any_address(
    accounts: AccountService, alice: User, clock: FakeClock
) -> None:
    for index in range(10):
        await _fail(accounts, "alice", address=f"203.0.113.{index}")
    with pytest.raises(RateLimited) as limited:
        await accounts.authenticate("alice", PASSWORD, address="198.51.100.50")
    assert 14 * 60 < limited.value.retry_after <= 15 * 60
    clock.advance(minutes=15, seconds=1)
    assert await accounts.authenticate("alice", PASSWORD, address=HOME) == alice


async def test_twenty_six_failures_from_one_address_are_refused_for_any_account(
    accounts: AccountService, alice: User, clock: FakeClock
) -> None:
    for index in range(25):
        await _fail(accounts, f"guess{index}")
    with pytest.raises(RateLimited) as limited:
        await accounts.authenticate("alice", PASSWORD, address=HOME)
    assert 4 * 60 < limited.value.retry_after <= 5 * 60
    assert await accounts.authenticate("alice", PASSWORD, address="198.51.100.1") == alice
    clock.advance(minutes=5, seconds=1)
    assert await accounts.authenticate("alice", PASSWORD, address=HOME) == alice


async def test_ipv6_addresses_are_counted_per_64_network(
    accounts: AccountService, alice: User
) -> None:
    for index in range(25):
        await _fail(accounts, f"guess{index}", address=f"2001:db8:0:1::{index + 1:x}")
    with pytest.raises(RateLimited):
        await accounts.authenticate("alice", PASSWORD, address="2001:db8:0:1:ffff::9")
    assert await accounts.authenticate("alice", PASSWORD, address="2001:db8:0:2::1") == alice


async def test_a_successful_sign_in_forgives_the_accounts_earlier_failures(
    accounts: AccountService, alice: User
) -> None:
    for index in range(9):
        await _fail(accounts, "alice", address=f"203.0.113.{index}")
    await accounts.authenticate("alice", PASSWORD, address=HOME)
    for index in range(9):
        await _fail(accounts, "alice", address=f"198.51.100.{index}")
    assert await accounts.authenticate("alice", PASSWORD, address=HOME) == alice


async def test_parallel_guesses_cannot_overrun_the_account_limit(
    services: Services, clock: FakeClock, password_hasher: Argon2PasswordHasher, alice: User
) -> None:
    hasher = CountingHasher(password_hasher)
    accounts = _counting(services, hasher, clock)

    async def guess(index: int) -> str:
        try:
            await accounts.authenticate("alice", f"guess {index}", address=f"203.0.113.{index}")
        except AuthenticationFailed:
            return "failed"
        except RateLimited:
            return "limited"
        return "signed in"

    outcomes = await asyncio.gather(*(guess(index) for index in range(30)))
    assert outcomes.count("failed") == 10
    assert outcomes.count("limited") == 20
    assert hasher.verified == 10


async def test_hashes_from_older_parameters_are_upgraded_at_sign_in(
    services: Services, clock: FakeClock, alice: User
) -> None:
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost_kib=64, parallelism=1)
    accounts = AccountService(
        services.uow, stronger, clock, AttemptThrottle(ThrottleLimits()), AccountPolicy()
    )
    await accounts.authenticate("alice", PASSWORD, address=HOME)
    async with services.uow(write=False) as work:
        stored = await work.users.get_password_hash(alice.id)
    assert stored is not None
    assert not stronger.needs_rehash(stored)
    assert await accounts.authenticate("alice", PASSWORD, address=HOME) == alice


async def test_a_disabled_account_cannot_sign_in(
    accounts: AccountService, alice: User, root: User
) -> None:
    await accounts.set_disabled(root, alice.id, True)
    with pytest.raises(AuthenticationFailed, match="disabled"):
        await accounts.authenticate("alice", PASSWORD, address=HOME)
    await accounts.set_disabled(root, alice.id, False)
    assert (await accounts.authenticate("alice", PASSWORD, address=HOME)).id == alice.id


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    services: Services, alice: User
) -> None:
    here = await services.sessions.start(alice, address=HOME)
    elsewhere = await services.sessions.start(alice, address="198.51.100.1")
    with pytest.raises(AuthenticationFailed):
        await services.accounts.change_password(
            alice, "not it at all", "a new passphrase", address=HOME, keep_session_id=None
        )
    ended = await services.accounts.change_password(
        alice, PASSWORD, "a new passphrase", address=HOME, keep_session_id=here.session.id
    )
    assert ended == 1
    assert await services.sessions.resolve(here.token) is not None
    assert await services.sessions.resolve(elsewhere.token) is None
    await _fail(services.accounts, "alice")
    with pytest.raises(AuthenticationFailed):
        await services.accounts.authenticate("alice", PASSWORD, address=HOME)
    await services.accounts.authenticate("alice", "a new passphrase", address=HOME)


async def test_an_admin_reset_ends_every_session(
    services: Services, alice: User, root: User
) -> None:
    session = await services.sessions.start(alice, address=HOME)
    with pytest.raises(Forbidden):
        await services.accounts.reset_password(alice, alice.id, "another passphrase")
    await services.accounts.reset_password(root, alice.id, "another passphrase")
    assert await services.sessions.resolve(session.token) is None
    await services.accounts.authenticate("alice", "another passphrase", address=HOME)


async def test_only_admins_manage_roles_and_the_last_admin_stays(
    accounts: AccountService, alice: User, root: User
) -> None:
    with pytest.raises(Forbidden):
        await accounts.set_role(alice, alice.id, Role.ADMIN)
    with pytest.raises(Conflict, match="only admin"):
        await accounts.set_role(root, root.id, Role.USER)
    with pytest.raises(Conflict, match="only admin"):
        await accounts.set_disabled(root, root.id, True)
    promoted = await accounts.set_role(root, alice.id, Role.ADMIN)
    assert promoted.is_admin
    demoted = await accounts.set_role(promoted, root.id, Role.MODERATOR)
    assert demoted.role is Role.MODERATOR
    assert (await accounts.get_user(root.id)).is_moderator


async def test_a_demoted_admin_object_no_longer_authorises(
    accounts: AccountService, alice: User, root: User
) -> None:
    stale = replace(root, disabled=True)
    with pytest.raises(Forbidden):
        await accounts.set_tier(stale, alice.id, "pro")


async def test_tiers_and_age_confirmation(
    accounts: AccountService, alice: User, root: User
) -> None:
    assert (await accounts.set_tier(root, alice.id, "pro")).tier == "pro"
    with pytest.raises(InvalidInput):
        await accounts.set_tier(root, alice.id, "")
    confirmed = await accounts.confirm_age(alice)
    assert confirmed.can_see_adult
    assert (await accounts.get_user(alice.id)).tier == "pro"


async def test_disabling_ends_sessions_and_revokes_tokens(
    services: Services, alice: User, root: User
) -> None:
    session = await services.sessions.start(alice, address=HOME)
    grant = await services.api_tokens.create(alice, "script")
    await services.accounts.set_disabled(root, alice.id, True)
    await services.accounts.set_disabled(root, alice.id, False)
    assert await services.sessions.resolve(session.token) is None
    assert await services.api_tokens.resolve(grant.secret) is None


async def test_admins_create_any_account_and_list_users(
    accounts: AccountService, alice: User, root: User
) -> None:
    with pytest.raises(Forbidden):
        await accounts.create_user(alice, "bob", PASSWORD)
    support = await accounts.create_user(root, "support", PASSWORD, role=Role.MODERATOR)
    assert support.role is Role.MODERATOR
    with pytest.raises(Forbidden):
        await accounts.list_users(alice)
    assert sorted(u.username for u in await accounts.list_users(root)) == [
        "alice",
        "root",
        "support",
    ]
    assert (await accounts.find_user("SUPPORT")).id == support.id
