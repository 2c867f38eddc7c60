"""Service tiers of accounts: which configured tier a user is on, and moving users between them.

The tiers themselves are configuration (`TierTable`, read at start-up). The user's tier is a
name stored on the account; a name the configuration no longer knows (a tier was removed) is
served as the default tier rather than failing the user's requests, and reported as such.
"""

import logging
from collections.abc import Mapping
from dataclasses import replace

from galatea.core.users import DEFAULT_TIER, User
from galatea.inference.scheduling.tiers import Tier
from galatea.services.errors import Forbidden, InvalidInput, NotFound
from galatea.services.ports import UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)


class TierService:
    """The configured tiers and the accounts' places in them."""

    def __init__(
        self, uow: UnitOfWorkFactory, tiers: Mapping[str, Tier], default: str = DEFAULT_TIER
    ) -> None:
        if not tiers:
            raise ValueError("at least one tier must be configured")
        self._uow = uow
        self.tiers = tiers
        self.default = tiers[default] if default in tiers else next(iter(tiers.values()))

    @property
    def names(self) -> list[str]:
        """The configured tier names, in configuration order."""
        return list(self.tiers)

    def tier_of(self, user: User) -> Tier:
        """The tier the user is served in (the default one for a name no longer configured)."""
        tier = self.tiers.get(user.tier)
        if tier is None:
            logger.warning(
                "user %s is on tier %r, which is not configured; serving %r",
                user.id,
                user.tier,
                self.default.name,
            )
            return self.default
        return tier

    def check(self, name: str) -> Tier:
        """The configured tier called `name`, or InvalidInput naming the configured ones."""
        tier = self.tiers.get(name)
        if tier is None:
            known = ", ".join(self.tiers)
            raise InvalidInput("tier", f"{name!r} is not a configured tier (configured: {known})")
        return tier

    async def set_tier(self, actor: User, user_id: str, name: str) -> User:
        """An admin moves a user to a configured tier."""
        if not actor.is_admin or actor.disabled:
            raise Forbidden("only an admin may do this")
        tier = self.check(name)
        async with self._uow() as uow:
            updated = await self.move(uow, user_id, tier.name)
            await uow.commit()
        return updated

    async def move(self, uow: UnitOfWork, user_id: str, name: str) -> User:
        """Inside the caller's transaction: put the user on tier `name` (already checked)."""
        user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("user", user_id)
        if user.tier == name:
            return user
        updated = replace(user, tier=name)
        await uow.users.update(updated)
        logger.info("user %s moved from tier %r to %r", user_id, user.tier, name)
        return updated


def in_progress_limit(tier: Tier) -> int:
    """Replies a user of `tier` may have in progress: running ones plus waiting ones."""
    return tier.concurrency + tier.queued_per_user
