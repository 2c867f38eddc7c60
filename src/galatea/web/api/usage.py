"""Tiers and usage: the user's own (`/me/usage`), the configured tiers, and for admins
everyone's usage and setting an account's tier."""

from typing import Annotated

from fastapi import APIRouter, Query

from galatea.services.validation import MAX_OFFSET
from galatea.web.deps import AdminUser, CurrentUser, ServicesDep, SignedIn
from galatea.web.schemas.admin import AdminUserPublic
from galatea.web.schemas.usage import (
    Day,
    MyUsagePublic,
    TierChange,
    TierPublic,
    UsageDayPublic,
    UsageOverviewPublic,
)

router = APIRouter(tags=["usage"])


@router.get("/me/usage")
async def my_usage(user: CurrentUser, services: ServicesDep) -> MyUsagePublic:
    """The signed-in user's tier, its limits, today's usage and the last 30 days."""
    return MyUsagePublic.of(await services.quotas.report(user))


@router.get("/tiers", dependencies=[SignedIn])
async def list_tiers(services: ServicesDep) -> list[TierPublic]:
    """The configured tiers and what each allows."""
    return [TierPublic.of(tier) for tier in services.tiers.tiers.values()]


@router.get("/admin/usage")
async def usage_overview(
    admin: AdminUser,
    services: ServicesDep,
    since: Day | None = None,
    until: Day | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> UsageOverviewPublic:
    """Usage per user (busiest first) and in total over a range of UTC days (default today)."""
    rows, totals = await services.usage.per_user(
        admin, since=since, until=until, offset=offset, limit=limit
    )
    return UsageOverviewPublic.of(rows, totals, offset=offset, limit=limit)


@router.get("/admin/usage/{user_id}")
async def user_usage(
    user_id: str,
    admin: AdminUser,
    services: ServicesDep,
    since: Day | None = None,
    until: Day | None = None,
) -> list[UsageDayPublic]:
    """One user's days with usage in the range (default today), newest first."""
    await services.accounts.get_user(user_id)  # an unknown user is a 404, not an empty list
    days = await services.usage.of_user(admin, user_id, since=since, until=until)
    return [UsageDayPublic.of(day) for day in days]


@router.put("/admin/users/{user_id}/tier")
async def set_tier(
    user_id: str, body: TierChange, admin: AdminUser, services: ServicesDep
) -> AdminUserPublic:
    """Move an account to a configured tier."""
    return AdminUserPublic.of(await services.tiers.set_tier(admin, user_id, body.tier))
