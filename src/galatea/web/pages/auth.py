"""Sign in, sign up, sign out."""

import math

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from galatea.bootstrap import Services
from galatea.services.errors import RateLimited, ServiceError
from galatea.web.auth import clear_session_cookie, session_token, set_session_cookie
from galatea.web.deps import ClientAddress, FormDep, ServicesDep, Viewer
from galatea.web.errors import service_status
from galatea.web.pages.forms import local_target, text
from galatea.web.templating import render

router = APIRouter()


@router.get("/sign-in")
async def sign_in_page(request: Request, viewer: Viewer) -> Response:
    """The sign-in form."""
    target = local_target(request.query_params.get("next"))
    if viewer is not None:
        return RedirectResponse(target, status_code=303)
    return await render(request, "auth/sign_in.html", {"next": target, "username": ""})


@router.post("/sign-in")
async def sign_in(
    request: Request, form: FormDep, services: ServicesDep, address: ClientAddress
) -> Response:
    """Check the credentials and start a session."""
    username, target = text(form, "username"), local_target(text(form, "next"))
    try:
        grant = await services.sessions.sign_in(
            username,
            text(form, "password"),
            address=address,
            user_agent=request.headers.get("user-agent", ""),
        )
    except ServiceError as error:
        return await _form_error(request, "auth/sign_in.html", error, username, target)
    await _end_previous_session(request, services)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, grant.token)
    return response


@router.get("/sign-up")
async def sign_up_page(request: Request, viewer: Viewer) -> Response:
    """The sign-up form (or a note that sign-up is closed)."""
    if viewer is not None:
        return RedirectResponse("/", status_code=303)
    return await render(request, "auth/sign_up.html", {"username": "", "next": "/"})


@router.post("/sign-up")
async def sign_up(
    request: Request, form: FormDep, services: ServicesDep, address: ClientAddress
) -> Response:
    """Create the account and sign in to it."""
    username = text(form, "username")
    try:
        if text(form, "password") != text(form, "password_again"):
            return await render(
                request,
                "auth/sign_up.html",
                {"username": username, "error": "the two passwords differ", "next": "/"},
                status=422,
            )
        user = await services.accounts.sign_up(username, text(form, "password"), address=address)
        grant = await services.sessions.start(
            user, address=address, user_agent=request.headers.get("user-agent", "")
        )
    except ServiceError as error:
        return await _form_error(request, "auth/sign_up.html", error, username, "/")
    await _end_previous_session(request, services)
    response = RedirectResponse("/characters/mine", status_code=303)
    set_session_cookie(request, response, grant.token)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, services: ServicesDep) -> Response:
    """End this browser's session."""
    token = session_token(request)
    if token:
        await services.sessions.sign_out(token)
    response = RedirectResponse("/?notice=signed-out", status_code=303)
    clear_session_cookie(response)
    return response


async def _end_previous_session(request: Request, services: Services) -> None:
    # A browser signing in again must not leave its old session alive on the server.
    token = session_token(request)
    if token:
        await services.sessions.sign_out(token)


async def _form_error(
    request: Request, template: str, error: ServiceError, username: str, target: str
) -> Response:
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(math.ceil(error.retry_after))
    return await render(
        request,
        template,
        {"username": username, "error": str(error), "next": target},
        status=service_status(error),
        headers=headers,
    )
