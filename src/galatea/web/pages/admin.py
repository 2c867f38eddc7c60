"""Admin pages: accounts (roles, tiers, disabling, new accounts)."""

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from galatea.bootstrap import Services
from galatea.core.users import Role, User
from galatea.services.errors import InvalidInput, ServiceError
from galatea.web.deps import AdminUser, FormDep, ServicesDep
from galatea.web.errors import service_status
from galatea.web.pages import forms
from galatea.web.templating import render

router = APIRouter(prefix="/admin")


@router.get("/users")
async def users_page(request: Request, admin: AdminUser, services: ServicesDep) -> Response:
    """Every account, with controls."""
    return await _users_page(request, admin, services)


@router.post("/users")
async def create_user(
    request: Request, form: FormDep, admin: AdminUser, services: ServicesDep
) -> Response:
    """Create an account."""
    try:
        await services.accounts.create_user(
            admin, forms.text(form, "username"), forms.text(form, "password"), role=_role(form)
        )
    except ServiceError as error:
        return await _users_page(request, admin, services, error)
    return RedirectResponse("/admin/users?notice=saved", status_code=303)


@router.post("/users/{user_id}")
async def update_user(
    request: Request, form: FormDep, user_id: str, admin: AdminUser, services: ServicesDep
) -> Response:
    """Change an account's role, tier or disabled flag."""
    try:
        target = await services.accounts.get_user(user_id)
        role, tier = _role(form), forms.text(form, "tier", target.tier).strip()
        disabled = forms.checkbox(form, "disabled")
        if role is not target.role:
            await services.accounts.set_role(admin, user_id, role)
        if tier != target.tier:
            await services.tiers.set_tier(admin, user_id, tier)
        if disabled != target.disabled:
            await services.accounts.set_disabled(admin, user_id, disabled)
    except ServiceError as error:
        return await _users_page(request, admin, services, error)
    return RedirectResponse("/admin/users?notice=saved", status_code=303)


def _role(form: FormData) -> Role:
    try:
        return Role(forms.text(form, "role", Role.USER.value))
    except ValueError:
        raise InvalidInput("role", "must be user, moderator or admin") from None


async def _users_page(
    request: Request, admin: User, services: Services, error: ServiceError | None = None
) -> Response:
    users = await services.accounts.list_users(admin, limit=500)
    return await render(
        request,
        "admin/users.html",
        {"users": users, "roles": [r.value for r in Role], "error": error and str(error)},
        status=200 if error is None else service_status(error),
    )
