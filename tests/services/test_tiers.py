"""Tiers of accounts: the configured tier a user is served in, and admins moving users."""

import pytest

from galatea.core.users import Role, User
from galatea.inference.scheduling import default_tiers
from galatea.services.errors import Forbidden, InvalidInput, NotFound
from galatea.services.tiers import TierService, in_progress_limit
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START
from tests.storage.factories import add_user


@pytest.fixture
def tiers(uow: SqlUnitOfWorkFactory) -> TierService:
    return TierService(uow, default_tiers())


async def test_an_admin_moves_a_user_to_a_configured_tier(
    uow: SqlUnitOfWorkFactory, tiers: TierService
) -> None:
    admin = await add_user(uow, "root", role=Role.ADMIN)
    alice = await add_user(uow, "alice")
    moved = await tiers.set_tier(admin, alice.id, "pro")
    assert moved.tier == "pro"
    async with uow(write=False) as work:
        stored = await work.users.get(alice.id)
    assert stored is not None and stored.tier == "pro"
    assert tiers.tier_of(stored).name == "pro"


async def test_an_unknown_tier_is_refused_naming_the_configured_ones(
    uow: SqlUnitOfWorkFactory, tiers: TierService
) -> None:
    admin = await add_user(uow, "root", role=Role.ADMIN)
    alice = await add_user(uow, "alice")
    with pytest.raises(InvalidInput, match="configured: free, plus, pro"):
        await tiers.set_tier(admin, alice.id, "gold")
    with pytest.raises(NotFound):
        await tiers.set_tier(admin, "nobody", "plus")


async def test_only_admins_set_tiers(uow: SqlUnitOfWorkFactory, tiers: TierService) -> None:
    alice = await add_user(uow, "alice")
    with pytest.raises(Forbidden):
        await tiers.set_tier(alice, alice.id, "pro")


def test_a_tier_no_longer_configured_is_served_as_the_default(tiers: TierService) -> None:
    user = User(id="u", username="u", created_at=START, tier="retired")
    assert tiers.tier_of(user).name == "free"
    assert tiers.names == ["free", "plus", "pro"]


def test_replies_in_progress_are_the_running_plus_the_waiting_ones() -> None:
    table = default_tiers()
    assert in_progress_limit(table["free"]) == 2
    assert in_progress_limit(table["pro"]) == 8
