"""Personal API tokens for `Authorization: Bearer`: shown once, stored as SHA-256 hashes."""

from dataclasses import dataclass
from datetime import timedelta

from galatea.core.ids import new_id
from galatea.core.users import ApiToken, User
from galatea.services.accounts import AccountService
from galatea.services.errors import Conflict, NotFound
from galatea.services.ports import Clock, UnitOfWorkFactory
from galatea.services.tokens import hash_token, is_plausible_token, new_token
from galatea.services.validation import clean_text

TOKEN_PREFIX = "gal_"
"""Marks our tokens, so secret scanners and people can recognise a leaked one."""
MAX_TOKENS_PER_USER = 50
TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A new token and its secret, which is shown this once."""

    token: ApiToken
    secret: str


class ApiTokenService:
    """Use cases of API tokens: create, resolve, list, revoke."""

    def __init__(self, uow: UnitOfWorkFactory, accounts: AccountService, clock: Clock) -> None:
        self._uow = uow
        self._accounts = accounts
        self._clock = clock

    async def create(
        self, user: User, name: str, *, expires_in: timedelta | None = None
    ) -> TokenGrant:
        """A new token for the user; the secret is in the grant and nowhere else."""
        name = clean_text("name", name, max_length=100, required=True)
        now = self._clock.now()
        secret = new_token(TOKEN_PREFIX)
        token = ApiToken(
            id=new_id(),
            user_id=user.id,
            name=name,
            hint=secret[-4:],
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
        )
        async with self._uow() as uow:
            if len(await uow.api_tokens.list_for_user(user.id)) >= MAX_TOKENS_PER_USER:
                raise Conflict(f"a user may hold at most {MAX_TOKENS_PER_USER} tokens")
            await uow.api_tokens.add(token, hash_token(secret))
            await uow.commit()
        return TokenGrant(token=token, secret=secret)

    async def create_with_password(
        self, username: str, password: str, *, address: str | None, name: str = "API token"
    ) -> TokenGrant:
        """Check the credentials (rate limited like sign-in) and create a token."""
        user = await self._accounts.authenticate(username, password, address=address)
        return await self.create(user, name)

    async def resolve(self, secret: str) -> User | None:
        """The user a Bearer secret belongs to; None when unknown, expired or disabled."""
        if not is_plausible_token(secret):
            return None
        now = self._clock.now()
        async with self._uow(write=False) as uow:
            token = await uow.api_tokens.get_by_token_hash(hash_token(secret))
            user = None if token is None else await uow.users.get(token.user_id)
        if token is None or user is None or user.disabled or token.is_expired(now):
            return None
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
            async with self._uow() as uow:
                await uow.api_tokens.touch(token.id, now)
                await uow.commit()
        return user

    async def list_tokens(self, user: User) -> list[ApiToken]:
        """The user's tokens, newest first (without their secrets, which are not kept)."""
        async with self._uow(write=False) as uow:
            return await uow.api_tokens.list_for_user(user.id)

    async def revoke(self, user: User, token_id: str) -> None:
        """Revoke one of the user's own tokens (another user's id is NotFound)."""
        async with self._uow() as uow:
            owned = {token.id for token in await uow.api_tokens.list_for_user(user.id)}
            if token_id not in owned:
                raise NotFound("token", token_id)
            await uow.api_tokens.delete(token_id)
            await uow.commit()
