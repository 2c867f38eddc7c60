"""Accounts in SQL: usernames unique ignoring case, hashes kept apart, admins counted."""

from dataclasses import replace

from galatea.core.users import Role, User
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START
from tests.storage.factories import later


async def test_usernames_are_unique_and_found_ignoring_case(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        assert await work.users.add(User(id="a", username="Alice", created_at=START), "h1")
        assert not await work.users.add(User(id="b", username="aLICE", created_at=START), "h2")
        await work.commit()
    async with uow(write=False) as work:
        found = await work.users.get_by_username("ALICE")
        assert found is not None
        assert (found.id, found.username) == ("a", "Alice")
        assert await work.users.get("b") is None


async def test_a_refused_duplicate_leaves_the_rest_of_the_transaction_intact(
    uow: SqlUnitOfWorkFactory,
) -> None:
    async with uow() as work:
        await work.users.add(User(id="a", username="alice", created_at=START), "h")
        await work.users.add(User(id="b", username="ALICE", created_at=START), "h")
        await work.users.add(User(id="c", username="carol", created_at=START), "h")
        await work.commit()
    async with uow(write=False) as work:
        assert [user.username for user in await work.users.list_all()] == ["alice", "carol"]


async def test_every_field_round_trips_and_updates(uow: SqlUnitOfWorkFactory) -> None:
    user = User(id="a", username="alice", created_at=later(1), role=Role.MODERATOR, tier="pro")
    changed = replace(user, role=Role.ADMIN, tier="free", age_confirmed=True, disabled=True)
    async with uow() as work:
        await work.users.add(user, "h")
        assert await work.users.get("a") == user
        await work.users.update(changed)
        await work.commit()
        assert await work.users.get("a") == changed


async def test_password_hashes_are_read_and_replaced_separately(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        await work.users.add(User(id="a", username="alice", created_at=START), "old")
        await work.users.set_password_hash("a", "new", later(5))
        await work.commit()
        assert await work.users.get_password_hash("a") == "new"
        assert await work.users.get_password_hash("nobody") is None


async def test_has_admin_counts_only_enabled_admins(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        assert not await work.users.has_admin()
        await work.users.add(User(id="a", username="root1", created_at=START, role=Role.ADMIN), "h")
        assert await work.users.has_admin()
        assert not await work.users.has_admin(excluding="a")
        await work.users.add(
            User(id="b", username="root2", created_at=START, role=Role.ADMIN, disabled=True), "h"
        )
        assert not await work.users.has_admin(excluding="a")


async def test_listing_pages_in_sign_up_order(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        for minute in (3, 1, 2):
            await work.users.add(
                User(id=f"u{minute}", username=f"user{minute}", created_at=later(minute)), "h"
            )
        await work.commit()
        assert [u.id for u in await work.users.list_all(offset=1, limit=2)] == ["u2", "u3"]
