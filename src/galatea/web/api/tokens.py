"""Personal API tokens: get one with a password, list and revoke them."""

from fastapi import APIRouter, status

from galatea.web.deps import ClientAddress, CurrentUser, ServicesDep
from galatea.web.schemas.tokens import TokenCreate, TokenGrantPublic, TokenPublic

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_token(
    body: TokenCreate, services: ServicesDep, address: ClientAddress
) -> TokenGrantPublic:
    """A new token for these credentials (rate limited like sign-in); shown only now."""
    grant = await services.api_tokens.create_with_password(
        body.username, body.password, address=address, name=body.name
    )
    return TokenGrantPublic(**TokenPublic.of(grant.token).model_dump(), token=grant.secret)


@router.get("")
async def list_tokens(user: CurrentUser, services: ServicesDep) -> list[TokenPublic]:
    """The user's tokens (without secrets)."""
    return [TokenPublic.of(token) for token in await services.api_tokens.list_tokens(user)]


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """Revoke one of the user's tokens."""
    await services.api_tokens.revoke(user, token_id)
