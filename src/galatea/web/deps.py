"""Typed dependencies for routes: the services, the caller, and the caller's permissions.

Routes declare what they need with these aliases (`user: CurrentUser`, `services:
ServicesDep`); the access rules themselves live in the services.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from galatea.bootstrap import Services
from galatea.core.users import User
from galatea.services.errors import AuthenticationFailed, Forbidden
from galatea.web.auth import Auth, authenticate, client_address, services_of
from galatea.web.media import read_form


async def get_auth(request: Request) -> Auth:
    """The caller and how they signed in."""
    return await authenticate(request)


AuthDep = Annotated[Auth, Depends(get_auth)]
ServicesDep = Annotated[Services, Depends(services_of)]


async def get_viewer(auth: AuthDep) -> User | None:
    """The caller, or None for an anonymous visitor."""
    return auth.user


async def get_current_user(auth: AuthDep) -> User:
    """The caller, who must be signed in (else 401, or a redirect to sign in for pages)."""
    if auth.user is None:
        raise AuthenticationFailed("sign in first")
    return auth.user


async def get_admin(user: Annotated[User, Depends(get_current_user)]) -> User:
    """The caller, who must be an admin."""
    if not user.is_admin:
        raise Forbidden("only an admin may do this")
    return user


def get_client_address(request: Request) -> str | None:
    """The client's address for rate limits and the session list."""
    return client_address(request)


async def get_form(request: Request) -> AsyncIterator[FormData]:
    """The submitted form; its uploaded files are closed once the request is handled."""
    form = await read_form(request)
    try:
        yield form
    finally:
        await form.close()


Viewer = Annotated[User | None, Depends(get_viewer)]
CurrentUser = Annotated[User, Depends(get_current_user)]
AdminUser = Annotated[User, Depends(get_admin)]
ClientAddress = Annotated[str | None, Depends(get_client_address)]
FormDep = Annotated[FormData, Depends(get_form)]
SignedIn = Depends(get_current_user)
"""For routes that need a signed-in caller but not the user object: `dependencies=[SignedIn]`."""
