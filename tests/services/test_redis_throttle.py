"""Sign-in and sign-up limits kept in Redis behave as the database's: per account, per address
(IPv6 per /64), a sliding window, success forgiving an account, and no overrun by parallel
guesses, across processes."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from galatea.bootstrap import Services
from galatea.core.users import User
from galatea.services.accounts import AccountPolicy, AccountService
from galatea.services.errors import AuthenticationFailed, RateLimited
from galatea.services.passwords import Argon2PasswordHasher
from galatea.services.redis_throttle import RedisAttemptThrottle
from galatea.services.throttle import ThrottleLimits
from tests.conftest import FakeClock
from tests.redis_support import RedisSpace, redis_space

pytestmark = pytest.mark.redis

PASSWORD = "correct horse battery staple"
HOME = "192.0.2.10"


@pytest.fixture
async def space(redis_url: str) -> AsyncIterator[RedisSpace]:
    async with redis_space(redis_url) as shared:
        yield shared


def process(
    services: Services, hasher: Argon2PasswordHasher, clock: FakeClock, space: RedisSpace
) -> AccountService:
    """An app process's account service, its throttle in the shared Redis."""
    throttle = RedisAttemptThrottle(space.client, ThrottleLimits(), prefix=space.prefix)
    return AccountService(services.uow, hasher, clock, throttle, AccountPolicy())


@pytest.fixture
def accounts(
    services: Services, password_hasher: Argon2PasswordHasher, clock: FakeClock, space: RedisSpace
) -> AccountService:
    return process(services, password_hasher, clock, space)


@pytest.fixture
async def alice(accounts: AccountService) -> User:
    return await accounts.sign_up("alice", PASSWORD, address=HOME)


async def fail(accounts: AccountService, username: str, address: str | None = HOME) -> None:
    with pytest.raises(AuthenticationFailed):
        await accounts.authenticate(username, "wrong password!", address=address)


async def test_failures_on_one_account_are_limited_from_any_address_and_any_process(
    services: Services,
    password_hasher: Argon2PasswordHasher,
    clock: FakeClock,
    space: RedisSpace,
    alice: User,
) -> None:
    one = process(services, password_hasher, clock, space)
    two = process(services, password_hasher, clock, space)
    for index in range(10):
        await fail(one if index % 2 else two, "alice", address=f"203.0.113.{index}")
    with pytest.raises(RateLimited) as limited:
        await one.authenticate("alice", PASSWORD, address="198.51.100.50")
    assert 14 * 60 < limited.value.retry_after <= 15 * 60
    clock.advance(minutes=15, seconds=1)
    assert await two.authenticate("alice", PASSWORD, address=HOME) == alice


async def test_failures_from_one_address_are_limited_for_any_account(
    accounts: AccountService, alice: User, clock: FakeClock
) -> None:
    for index in range(25):
        await fail(accounts, f"guess{index}")
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
        await fail(accounts, f"guess{index}", address=f"2001:db8:0:1::{index + 1:x}")
    with pytest.raises(RateLimited):
        await accounts.authenticate("alice", PASSWORD, address="2001:db8:0:1:ffff::9")
    assert await accounts.authenticate("alice", PASSWORD, address="2001:db8:0:2::1") == alice


async def test_a_success_forgives_the_account_and_its_own_attempt(
    accounts: AccountService, alice: User
) -> None:
    for index in range(9):
        await fail(accounts, "alice", address=f"203.0.113.{index}")
    for _ in range(30):  # successes from one address never count against it
        await accounts.authenticate("alice", PASSWORD, address=HOME)
    for index in range(9):
        await fail(accounts, "alice", address=f"198.51.100.{index}")
    assert await accounts.authenticate("alice", PASSWORD, address=HOME) == alice


async def test_sign_ups_are_limited_per_address(accounts: AccountService, clock: FakeClock) -> None:
    for index in range(5):
        await accounts.sign_up(f"user{index}", PASSWORD, address=HOME)
    with pytest.raises(RateLimited) as limited:
        await accounts.sign_up("user5", PASSWORD, address=HOME)
    assert 29 * 60 < limited.value.retry_after <= 30 * 60
    await accounts.sign_up("user5", PASSWORD, address="198.51.100.1")
    clock.advance(minutes=31)
    await accounts.sign_up("user6", PASSWORD, address=HOME)


async def test_parallel_guesses_cannot_overrun_the_account_limit(
    accounts: AccountService, alice: User
) -> None:
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
