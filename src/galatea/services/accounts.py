"""Accounts: sign-up, password checks with rate limits, password changes, roles, tiers, age.

Sign-in answers the same way, after the same work, whether the username exists or not: an
unknown name is checked against a dummy hash, so neither the message nor the time tells
which usernames are taken. The first account is never made an admin by signing up; admins
come from `galatea admin create-user --admin`.
"""

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from galatea.core.ids import new_id
from galatea.core.users import DEFAULT_TIER, Role, TierName, User
from galatea.services.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from galatea.services.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_new_password,
)
from galatea.services.ports import Clock, PasswordHasher, UnitOfWorkFactory
from galatea.services.throttle import SignInThrottle
from galatea.services.tokens import new_token
from galatea.services.validation import check_page

MAX_USERNAME_LENGTH = 32
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")
RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "system", "moderator", "galatea", "support", "api"}
)

LOCAL_OPERATOR = User(
    id="",
    username="(command line)",
    created_at=datetime(1970, 1, 1, tzinfo=UTC),
    role=Role.ADMIN,
)
"""The person at the server's command line, who may do what an admin may."""


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """Site rules for accounts."""

    signup_open: bool = True
    """Whether anyone may create an account; admins can always create them."""
    min_password_length: int = MIN_PASSWORD_LENGTH
    default_tier: TierName = DEFAULT_TIER


def check_username(username: str, *, allow_reserved: bool = False) -> str:
    """The username if it may be registered, else InvalidInput naming the rule."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            "username",
            "must be 3 to 32 characters: letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
        )
    if not allow_reserved and username.casefold() in RESERVED_USERNAMES:
        raise InvalidInput("username", f"{username!r} is reserved")
    return username


class AccountService:
    """Use cases of accounts: creating them, checking passwords, managing them."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        throttle: SignInThrottle,
        policy: AccountPolicy,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self.policy = policy
        self._dummy_hash: str | None = None

    async def sign_up(self, username: str, password: str, *, address: str | None) -> User:
        """Create an ordinary account, if sign-up is open (limited per address)."""
        if not self.policy.signup_open:
            raise Forbidden("sign-up is closed on this site; ask an admin for an account")
        check_username(username)
        check_new_password(password, username=username, min_length=self.policy.min_password_length)
        async with self._uow() as uow:
            await self._throttle.begin_sign_up(uow, address=address, now=self._clock.now())
            await uow.commit()
        return await self._create(username, password, Role.USER)

    async def create_user(
        self, actor: User, username: str, password: str, *, role: Role = Role.USER
    ) -> User:
        """An admin creates an account with any role (sign-up need not be open)."""
        _require_admin(actor)
        check_username(username, allow_reserved=True)
        check_new_password(password, username=username, min_length=self.policy.min_password_length)
        return await self._create(username, password, role)

    async def authenticate(self, username: str, password: str, *, address: str | None) -> User:
        """The user these credentials belong to, or AuthenticationFailed (rate limited)."""
        now = self._clock.now()
        async with self._uow() as uow:
            attempt = await self._throttle.begin_sign_in(
                uow, username=username, address=address, now=now
            )
            # A name no account can have is not looked up, but still costs a hash below.
            plausible = len(username) <= MAX_USERNAME_LENGTH
            user = await uow.users.get_by_username(username) if plausible else None
            stored = None if user is None else await uow.users.get_password_hash(user.id)
            await uow.commit()
        if len(password) > MAX_PASSWORD_LENGTH:
            raise AuthenticationFailed()
        matches = await self._hasher.verify(stored or await self._dummy(), password)
        if user is None or stored is None or not matches:
            raise AuthenticationFailed()
        if user.disabled:
            raise AuthenticationFailed("this account is disabled")
        fresh_hash = (
            await self._hasher.hash(password) if self._hasher.needs_rehash(stored) else None
        )
        async with self._uow() as uow:
            await self._throttle.sign_in_succeeded(uow, attempt_id=attempt, username=username)
            if fresh_hash is not None:
                await uow.users.set_password_hash(user.id, fresh_hash, now)
            await uow.commit()
        return user

    async def change_password(
        self,
        user: User,
        current_password: str,
        new_password: str,
        *,
        address: str | None,
        keep_session_id: str | None,
    ) -> int:
        """Replace the user's password; every other session ends. Returns how many ended."""
        await self.authenticate(user.username, current_password, address=address)
        check_new_password(
            new_password, username=user.username, min_length=self.policy.min_password_length
        )
        new_hash = await self._hasher.hash(new_password)
        async with self._uow() as uow:
            await uow.users.set_password_hash(user.id, new_hash, self._clock.now())
            ended = await uow.sessions.delete_for_user(user.id, except_id=keep_session_id)
            await uow.commit()
        return ended

    async def reset_password(self, actor: User, user_id: str, new_password: str) -> None:
        """An admin sets someone's password; all of that user's sessions end."""
        _require_admin(actor)
        target = await self.get_user(user_id)
        check_new_password(
            new_password, username=target.username, min_length=self.policy.min_password_length
        )
        new_hash = await self._hasher.hash(new_password)
        async with self._uow() as uow:
            await uow.users.set_password_hash(target.id, new_hash, self._clock.now())
            await uow.sessions.delete_for_user(target.id)
            await uow.commit()

    async def get_user(self, user_id: str) -> User:
        """The user with this id, or NotFound."""
        async with self._uow(write=False) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    async def find_user(self, username: str) -> User:
        """The user with this username (any case), or NotFound."""
        async with self._uow(write=False) as uow:
            user = await uow.users.get_by_username(username)
        if user is None:
            raise NotFound("user", username)
        return user

    async def list_users(self, actor: User, *, offset: int = 0, limit: int = 100) -> list[User]:
        """Accounts in sign-up order (admins only)."""
        _require_admin(actor)
        offset, limit = check_page(offset, limit, max_limit=500)
        async with self._uow(write=False) as uow:
            return await uow.users.list_all(offset=offset, limit=limit)

    async def has_admin(self) -> bool:
        """Whether an enabled admin account exists (the site refuses to go public without)."""
        async with self._uow(write=False) as uow:
            return await uow.users.has_admin()

    async def confirm_age(self, user: User) -> User:
        """The user confirms being an adult, so adult characters are shown to them."""
        return await self._store(replace(await self.get_user(user.id), age_confirmed=True))

    async def set_role(self, actor: User, user_id: str, role: Role) -> User:
        """An admin changes someone's role; the last admin cannot be demoted."""
        _require_admin(actor)
        target = await self.get_user(user_id)
        if target.is_admin and role is not Role.ADMIN:
            await self._keep_an_admin(target)
        return await self._store(replace(target, role=role))

    async def set_tier(self, actor: User, user_id: str, tier: TierName) -> User:
        """An admin moves someone to another service tier."""
        _require_admin(actor)
        if not tier or len(tier) > 32:
            raise InvalidInput("tier", "must be 1 to 32 characters")
        return await self._store(replace(await self.get_user(user_id), tier=tier))

    async def set_disabled(self, actor: User, user_id: str, disabled: bool) -> User:
        """An admin disables (or enables) an account; disabling ends its sessions and tokens."""
        _require_admin(actor)
        target = await self.get_user(user_id)
        if disabled and target.is_admin:
            await self._keep_an_admin(target)
        async with self._uow() as uow:
            updated = replace(target, disabled=disabled)
            await uow.users.update(updated)
            if disabled:
                await uow.sessions.delete_for_user(target.id)
                await uow.api_tokens.delete_for_user(target.id)
            await uow.commit()
        return updated

    async def _create(self, username: str, password: str, role: Role) -> User:
        password_hash = await self._hasher.hash(password)
        user = User(
            id=new_id(),
            username=username,
            created_at=self._clock.now(),
            role=role,
            tier=self.policy.default_tier,
        )
        async with self._uow() as uow:
            if not await uow.users.add(user, password_hash):
                raise Conflict(f"the username {username!r} is taken")
            await uow.commit()
        return user

    async def _store(self, user: User) -> User:
        async with self._uow() as uow:
            await uow.users.update(user)
            await uow.commit()
        return user

    async def _keep_an_admin(self, target: User) -> None:
        async with self._uow(write=False) as uow:
            others = await uow.users.has_admin(excluding=target.id)
        if not others:
            raise Conflict("this is the only admin; make another user admin first")

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(new_token())
        return self._dummy_hash


def _require_admin(actor: User) -> None:
    if not actor.is_admin or actor.disabled:
        raise Forbidden("only an admin may do this")
