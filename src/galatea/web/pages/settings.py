"""The account settings: age confirmation, password, signed-in sessions, API tokens."""

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from galatea.bootstrap import Services
from galatea.core.users import User
from galatea.services.errors import ServiceError
from galatea.web.deps import AuthDep, ClientAddress, CurrentUser, FormDep, ServicesDep
from galatea.web.errors import service_status
from galatea.web.pages import forms
from galatea.web.templating import render

router = APIRouter(prefix="/settings")


@router.get("")
async def account_page(
    request: Request, auth: AuthDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """The account page."""
    return await _account_page(request, auth.session.id if auth.session else None, user, services)


@router.post("/age")
async def confirm_age(user: CurrentUser, services: ServicesDep) -> Response:
    """Confirm being an adult."""
    await services.accounts.confirm_age(user)
    return RedirectResponse("/settings?notice=age-confirmed", status_code=303)


@router.post("/password")
async def change_password(
    form: FormDep,
    request: Request,
    auth: AuthDep,
    user: CurrentUser,
    services: ServicesDep,
    address: ClientAddress,
) -> Response:
    """Change the password; the other sessions end."""
    current_id = auth.session.id if auth.session else None
    try:
        if forms.text(form, "new_password") != forms.text(form, "new_password_again"):
            raise _Mismatch()
        await services.accounts.change_password(
            user,
            forms.text(form, "current_password"),
            forms.text(form, "new_password"),
            address=address,
            keep_session_id=current_id,
        )
    except _Mismatch:
        return await _account_page(
            request, current_id, user, services, "the two new passwords differ", 422
        )
    except ServiceError as error:
        return await _account_page(
            request, current_id, user, services, str(error), service_status(error)
        )
    return RedirectResponse("/settings?notice=password-changed", status_code=303)


@router.post("/sessions/{session_id}/end")
async def end_session(session_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """End one signed-in browser."""
    await services.sessions.end_session(user, session_id)
    return RedirectResponse("/settings?notice=sessions-ended", status_code=303)


@router.post("/sessions/end-others")
async def end_other_sessions(auth: AuthDep, user: CurrentUser, services: ServicesDep) -> Response:
    """End every session but this one."""
    if auth.session is not None:
        await services.sessions.end_other_sessions(user, auth.session.id)
    return RedirectResponse("/settings?notice=sessions-ended", status_code=303)


@router.get("/tokens")
async def tokens_page(request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    """The user's API tokens."""
    return await _tokens_page(request, user, services)


@router.post("/tokens")
async def create_token(
    request: Request, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """A new token, shown on this page once."""
    try:
        grant = await services.api_tokens.create(user, forms.text(form, "name"))
    except ServiceError as error:
        return await _tokens_page(request, user, services, error=str(error))
    return await _tokens_page(request, user, services, secret=grant.secret)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Revoke a token."""
    await services.api_tokens.revoke(user, token_id)
    return RedirectResponse("/settings/tokens?notice=token-revoked", status_code=303)


class _Mismatch(Exception):
    pass


async def _account_page(
    request: Request,
    current_session: str | None,
    user: User,
    services: Services,
    error: str | None = None,
    status: int = 200,
) -> Response:
    sessions = await services.sessions.list_sessions(user)
    return await render(
        request,
        "settings/account.html",
        {"sessions": sessions, "current_session": current_session, "error": error},
        status=status,
    )


async def _tokens_page(
    request: Request,
    user: User,
    services: Services,
    *,
    secret: str | None = None,
    error: str | None = None,
) -> Response:
    tokens = await services.api_tokens.list_tokens(user)
    return await render(
        request,
        "settings/tokens.html",
        {"tokens": tokens, "secret": secret, "error": error},
        status=200 if error is None else 422,
        # The secret is on this page only once: it must not be cached.
        headers={"Cache-Control": "no-store"},
    )
