"""Sign-in sessions: server-side, found by the hash of the token in the browser's cookie.

A session ends at its absolute lifetime or after an idle period, on sign-out, when the
user changes their password elsewhere, or when an admin disables the account.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from galatea.core.ids import new_id
from galatea.core.users import User, UserSession
from galatea.services.accounts import AccountService
from galatea.services.errors import NotFound
from galatea.services.ports import Clock, UnitOfWorkFactory
from galatea.services.tokens import hash_token, is_plausible_token, new_token


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long sessions last."""

    lifetime: timedelta = timedelta(days=30)
    """The absolute end of a session, however active."""
    idle_timeout: timedelta = timedelta(days=7)
    """A session unused this long has ended."""
    touch_interval: timedelta = timedelta(minutes=5)
    """Activity is written at most this often, so reading pages does not mean writing."""


@dataclass(frozen=True, slots=True)
class SessionGrant:
    """A new session and its token, which is shown this once (it goes into the cookie)."""

    user: User
    session: UserSession
    token: str


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A request's session, resolved from its token."""

    user: User
    session: UserSession


class SessionService:
    """Use cases of sessions: sign in, resolve a cookie, sign out, list and end sessions."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        accounts: AccountService,
        clock: Clock,
        policy: SessionPolicy,
    ) -> None:
        self._uow = uow
        self._accounts = accounts
        self._clock = clock
        self.policy = policy

    async def sign_in(
        self, username: str, password: str, *, address: str | None, user_agent: str = ""
    ) -> SessionGrant:
        """Check the credentials (rate limited) and start a new session."""
        user = await self._accounts.authenticate(username, password, address=address)
        return await self.start(user, address=address, user_agent=user_agent)

    async def start(self, user: User, *, address: str | None, user_agent: str = "") -> SessionGrant:
        """Start a session for a user who just proved who they are (a fresh token each time)."""
        now = self._clock.now()
        token = new_token()
        session = UserSession(
            id=new_id(),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.policy.lifetime,
            csrf_token=secrets.token_urlsafe(32),
            user_agent=user_agent[:512],
            address=(address or "")[:64],
        )
        async with self._uow() as uow:
            await uow.sessions.add(session, hash_token(token))
            await uow.commit()
        return SessionGrant(user=user, session=session, token=token)

    async def resolve(self, token: str) -> ActiveSession | None:
        """The session and user a cookie's token stands for; None when unknown or ended."""
        if not is_plausible_token(token):
            return None
        now = self._clock.now()
        async with self._uow(write=False) as uow:
            session = await uow.sessions.get_by_token_hash(hash_token(token))
            user = None if session is None else await uow.users.get(session.user_id)
        if session is None or user is None:
            return None
        if user.disabled or session.is_expired(now, self.policy.idle_timeout.total_seconds()):
            await self._delete(session.id)
            return None
        if now - session.last_seen_at >= self.policy.touch_interval:
            async with self._uow() as uow:
                await uow.sessions.touch(session.id, now)
                await uow.commit()
        return ActiveSession(user=user, session=session)

    async def sign_out(self, token: str) -> None:
        """End the session this token belongs to (nothing happens for an unknown token)."""
        if not is_plausible_token(token):
            return
        async with self._uow() as uow:
            session = await uow.sessions.get_by_token_hash(hash_token(token))
            if session is not None:
                await uow.sessions.delete(session.id)
            await uow.commit()

    async def list_sessions(self, user: User) -> list[UserSession]:
        """The user's sessions that have not ended, most recently active first."""
        now = self._clock.now()
        idle = self.policy.idle_timeout.total_seconds()
        async with self._uow(write=False) as uow:
            sessions = await uow.sessions.list_for_user(user.id)
        return [session for session in sessions if not session.is_expired(now, idle)]

    async def end_session(self, user: User, session_id: str) -> None:
        """End one of the user's own sessions (another user's id is NotFound)."""
        async with self._uow() as uow:
            owned = {session.id for session in await uow.sessions.list_for_user(user.id)}
            if session_id not in owned:
                raise NotFound("session", session_id)
            await uow.sessions.delete(session_id)
            await uow.commit()

    async def end_other_sessions(self, user: User, keep_session_id: str) -> int:
        """End all of the user's sessions but the current one; returns how many ended."""
        async with self._uow() as uow:
            ended = await uow.sessions.delete_for_user(user.id, except_id=keep_session_id)
            await uow.commit()
        return ended

    async def prune(self) -> int:
        """Delete ended sessions from storage; returns how many."""
        now = self._clock.now()
        async with self._uow() as uow:
            deleted = await uow.sessions.delete_expired(
                now=now, idle_since=now - self.policy.idle_timeout
            )
            await uow.commit()
        return deleted

    async def _delete(self, session_id: str) -> None:
        async with self._uow() as uow:
            await uow.sessions.delete(session_id)
            await uow.commit()
