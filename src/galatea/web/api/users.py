"""Sign-up through the API."""

from fastapi import APIRouter, status

from galatea.web.deps import ClientAddress, ServicesDep
from galatea.web.schemas.users import UserCreate, UserPublic

router = APIRouter(tags=["accounts"])


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def sign_up(body: UserCreate, services: ServicesDep, address: ClientAddress) -> UserPublic:
    """Create an account (when sign-up is open; limited per address)."""
    user = await services.accounts.sign_up(body.username, body.password, address=address)
    return UserPublic.of(user)
