"""Usage pages: the user's tier, limits and usage; for admins everyone's usage over a range
of days, and moving an account to another tier."""

from datetime import date

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from galatea.bootstrap import Services
from galatea.core.users import User
from galatea.services.errors import InvalidInput, ServiceError
from galatea.web.deps import AdminUser, CurrentUser, FormDep, ServicesDep
from galatea.web.errors import service_status
from galatea.web.pages import forms
from galatea.web.templating import render

router = APIRouter()
ADMIN_PAGE_SIZE = 200


@router.get("/usage")
async def my_usage_page(request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    """The user's tier, its limits, today's usage and the last 30 days."""
    report = await services.quotas.report(user)
    return await render(
        request,
        "usage/mine.html",
        {"report": report, "tiers": list(services.tiers.tiers.values())},
    )


@router.get("/admin/usage")
async def usage_overview_page(
    request: Request,
    admin: AdminUser,
    services: ServicesDep,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    """Usage per user and in total over a range of UTC days (default today)."""
    try:
        first, last = _day(since, "since"), _day(until, "until")
        return await _overview(request, admin, services, first, last)
    except ServiceError as error:
        return await _overview(request, admin, services, None, None, error)


@router.post("/admin/usage/users/{user_id}/tier")
async def set_tier(
    request: Request, form: FormDep, user_id: str, admin: AdminUser, services: ServicesDep
) -> Response:
    """Move an account to another tier, then show the overview again."""
    back = _back(form)
    try:
        await services.tiers.set_tier(admin, user_id, forms.text(form, "tier").strip())
    except ServiceError as error:
        return await _overview(request, admin, services, None, None, error)
    separator = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{separator}notice=saved", status_code=303)


async def _overview(
    request: Request,
    admin: User,
    services: Services,
    since: date | None,
    until: date | None,
    error: ServiceError | None = None,
) -> Response:
    rows, totals = await services.usage.per_user(
        admin, since=since, until=until, limit=ADMIN_PAGE_SIZE
    )
    return await render(
        request,
        "usage/admin.html",
        {
            "rows": rows,
            "totals": totals,
            "tier_names": services.tiers.names,
            "back": request.url.path
            + (f"?{request.url.query}" if request.url.query and error is None else ""),
            "error": error and str(error),
        },
        status=200 if error is None else service_status(error),
    )


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "must be a date like 2025-01-31") from None


def _back(form: FormData) -> str:
    target = forms.local_target(forms.text(form, "back"), "/admin/usage")
    return target if target.startswith("/admin/usage") else "/admin/usage"
