"""The signed-in user's own account: profile, age confirmation, password, sessions, characters."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from galatea.core.records import CharacterSort
from galatea.services.validation import MAX_OFFSET
from galatea.web.deps import AuthDep, ClientAddress, CurrentUser, ServicesDep
from galatea.web.schemas.characters import CharactersPublic, CharacterSummaryPublic
from galatea.web.schemas.users import MePublic, PasswordChange, SessionPublic

router = APIRouter(prefix="/me", tags=["me"])


@router.get("")
async def get_me(user: CurrentUser) -> MePublic:
    """The signed-in user."""
    return MePublic.of(user)


@router.post("/age-confirmation")
async def confirm_age(user: CurrentUser, services: ServicesDep) -> MePublic:
    """Confirm being an adult (once): characters flagged adult become visible."""
    return MePublic.of(await services.accounts.confirm_age(user))


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChange,
    auth: AuthDep,
    user: CurrentUser,
    services: ServicesDep,
    address: ClientAddress,
) -> None:
    """Change the password; every other session ends (this one too, for a token)."""
    await services.accounts.change_password(
        user,
        body.current_password,
        body.new_password,
        address=address,
        keep_session_id=None if auth.session is None else auth.session.id,
    )


@router.get("/sessions")
async def list_sessions(
    auth: AuthDep, user: CurrentUser, services: ServicesDep
) -> list[SessionPublic]:
    """The user's signed-in browsers."""
    current = None if auth.session is None else auth.session.id
    return [SessionPublic.of(s, current) for s in await services.sessions.list_sessions(user)]


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def end_session(session_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """End one of the user's sessions."""
    await services.sessions.end_session(user, session_id)


@router.get("/characters")
async def my_characters(
    user: CurrentUser,
    services: ServicesDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    sort: CharacterSort = CharacterSort.UPDATED,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
) -> CharactersPublic:
    """The user's own characters, whatever their visibility."""
    page = await services.characters.mine(
        user, text=q, tag=tag, sort=sort, offset=offset, limit=limit
    )
    items = [CharacterSummaryPublic.of(item) for item in page.items]
    return CharactersPublic(items=items, total=page.total, offset=offset, limit=limit)
