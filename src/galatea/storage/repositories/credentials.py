"""Sign-in sessions and API tokens in SQL; only hashes of their secrets are stored."""

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.users import ApiToken, UserSession
from galatea.storage.tables import ApiTokenRow, UserSessionRow


class SqlSessionRepository:
    """Sessions in the `user_sessions` table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, session: UserSession, token_hash: str) -> None:
        """Store a new session."""
        self._session.add(
            UserSessionRow(
                id=session.id,
                user_id=session.user_id,
                token_hash=token_hash,
                csrf_token=session.csrf_token,
                user_agent=session.user_agent[:512],
                address=session.address[:64],
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                expires_at=session.expires_at,
            )
        )
        await self._session.flush()

    async def get_by_token_hash(self, token_hash: str) -> UserSession | None:
        """The session whose token hashes to this value."""
        query = select(UserSessionRow).where(UserSessionRow.token_hash == token_hash)
        row = (await self._session.scalars(query)).first()
        return None if row is None else _to_session(row)

    async def touch(self, session_id: str, at: datetime) -> None:
        """Record activity on the session."""
        await self._session.execute(
            update(UserSessionRow).where(UserSessionRow.id == session_id).values(last_seen_at=at)
        )

    async def delete(self, session_id: str) -> None:
        """End one session."""
        await self._session.execute(delete(UserSessionRow).where(UserSessionRow.id == session_id))

    async def delete_for_user(self, user_id: str, *, except_id: str | None = None) -> int:
        """End the user's sessions (all but `except_id`); returns how many ended."""
        statement = delete(UserSessionRow).where(UserSessionRow.user_id == user_id)
        if except_id is not None:
            statement = statement.where(UserSessionRow.id != except_id)
        result = await self._session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def list_for_user(self, user_id: str) -> list[UserSession]:
        """The user's sessions, most recently active first."""
        query = (
            select(UserSessionRow)
            .where(UserSessionRow.user_id == user_id)
            .order_by(UserSessionRow.last_seen_at.desc(), UserSessionRow.id)
        )
        return [_to_session(row) for row in await self._session.scalars(query)]

    async def delete_expired(self, *, now: datetime, idle_since: datetime) -> int:
        """End sessions past their absolute end or not seen since `idle_since`."""
        result = await self._session.execute(
            delete(UserSessionRow).where(
                or_(UserSessionRow.expires_at <= now, UserSessionRow.last_seen_at <= idle_since)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class SqlApiTokenRepository:
    """Tokens in the `api_tokens` table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: ApiToken, token_hash: str) -> None:
        """Store a new token."""
        self._session.add(
            ApiTokenRow(
                id=token.id,
                user_id=token.user_id,
                name=token.name,
                token_hash=token_hash,
                hint=token.hint,
                created_at=token.created_at,
                last_used_at=token.last_used_at,
                expires_at=token.expires_at,
            )
        )
        await self._session.flush()

    async def get_by_token_hash(self, token_hash: str) -> ApiToken | None:
        """The token whose secret hashes to this value."""
        query = select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash)
        row = (await self._session.scalars(query)).first()
        return None if row is None else _to_token(row)

    async def touch(self, token_id: str, at: datetime) -> None:
        """Record that the token was used."""
        await self._session.execute(
            update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=at)
        )

    async def delete(self, token_id: str) -> None:
        """Revoke one token."""
        await self._session.execute(delete(ApiTokenRow).where(ApiTokenRow.id == token_id))

    async def delete_for_user(self, user_id: str) -> int:
        """Revoke all of a user's tokens; returns how many."""
        result = await self._session.execute(
            delete(ApiTokenRow).where(ApiTokenRow.user_id == user_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def list_for_user(self, user_id: str) -> list[ApiToken]:
        """The user's tokens, newest first."""
        query = (
            select(ApiTokenRow)
            .where(ApiTokenRow.user_id == user_id)
            .order_by(ApiTokenRow.created_at.desc(), ApiTokenRow.id)
        )
        return [_to_token(row) for row in await self._session.scalars(query)]


def _to_session(row: UserSessionRow) -> UserSession:
    return UserSession(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        csrf_token=row.csrf_token,
        user_agent=row.user_agent,
        address=row.address,
    )


def _to_token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        hint=row.hint,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
    )
