"""Sign-in attempts in SQL: the n-th newest inside a window, per account or per address."""

import asyncio

import pytest

from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.storage.factories import later


async def test_nth_newest_counts_one_key_inside_the_window(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        for minute in range(5):
            await work.auth_attempts.add(
                "sign_in", account_key="alice", address_key="192.0.2.1", at=later(minute)
            )
        await work.auth_attempts.add("sign_in", account_key="bob", address_key="x", at=later(9))
        await work.auth_attempts.add("sign_up", account_key=None, address_key="x", at=later(9))
        await work.commit()
        attempts = work.auth_attempts
        assert await attempts.nth_newest(
            "sign_in", account_key="alice", since=later(-1), n=2
        ) == later(3)
        assert (
            await attempts.nth_newest("sign_in", account_key="alice", since=later(1), n=4) is None
        )
        assert await attempts.nth_newest("sign_in", address_key="x", since=later(0), n=1) == later(
            9
        )
        assert await attempts.nth_newest("sign_up", address_key="x", since=later(0), n=2) is None


async def test_one_key_kind_must_be_given(uow: SqlUnitOfWorkFactory) -> None:
    async with uow(write=False) as work:
        with pytest.raises(ValueError, match="exactly one"):
            await work.auth_attempts.nth_newest("sign_in", since=later(0), n=1)


async def test_remove_clear_and_prune(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        first = await work.auth_attempts.add(
            "sign_in", account_key="a", address_key=None, at=later(0)
        )
        await work.auth_attempts.add("sign_in", account_key="a", address_key=None, at=later(1))
        await work.auth_attempts.add("sign_in", account_key="b", address_key=None, at=later(2))
        await work.auth_attempts.remove(first)
        assert (
            await work.auth_attempts.nth_newest("sign_in", account_key="a", since=later(-1), n=2)
            is None
        )
        await work.auth_attempts.clear_account("sign_in", "a")
        assert (
            await work.auth_attempts.nth_newest("sign_in", account_key="a", since=later(-1), n=1)
            is None
        )
        await work.auth_attempts.prune(later(3))
        assert (
            await work.auth_attempts.nth_newest("sign_in", account_key="b", since=later(-1), n=1)
            is None
        )


async def test_the_key_lock_makes_a_second_transaction_wait(uow: SqlUnitOfWorkFactory) -> None:
    order: list[str] = []
    locked = asyncio.Event()

    async def first() -> None:
        async with uow() as work:
            await work.auth_attempts.lock(["sign_in:alice"])
            locked.set()
            await asyncio.sleep(0.2)
            order.append("first done")
            await work.commit()

    async def second() -> None:
        await locked.wait()
        async with uow() as work:
            await work.auth_attempts.lock(["sign_in:alice"])
            order.append("second locked")
            await work.commit()

    await asyncio.gather(first(), second())
    assert order == ["first done", "second locked"]
