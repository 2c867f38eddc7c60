"""Browser sessions through the API: sign in (sets the cookie) and sign out."""

from fastapi import APIRouter, Request, Response, status

from galatea.web.auth import clear_session_cookie, session_token, set_session_cookie
from galatea.web.deps import ClientAddress, ServicesDep
from galatea.web.schemas.users import MePublic, SignedInPublic, SignIn

router = APIRouter(tags=["accounts"])


@router.post("/session")
async def sign_in(
    body: SignIn,
    request: Request,
    response: Response,
    services: ServicesDep,
    address: ClientAddress,
) -> SignedInPublic:
    """Start a browser session (rate limited); later unsafe requests need the CSRF token."""
    grant = await services.sessions.sign_in(
        body.username,
        body.password,
        address=address,
        user_agent=request.headers.get("user-agent", ""),
    )
    previous = session_token(request)
    if previous:
        await services.sessions.sign_out(previous)
    set_session_cookie(request, response, grant.token)
    return SignedInPublic(user=MePublic.of(grant.user), csrf_token=grant.session.csrf_token)


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(request: Request, response: Response, services: ServicesDep) -> None:
    """End this browser session."""
    token = session_token(request)
    if token:
        await services.sessions.sign_out(token)
    clear_session_cookie(response)
