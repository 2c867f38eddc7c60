"""Sign-in and sign-up attempts in SQL, for rate limits that hold across processes."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.storage.tables import AuthAttemptRow


class SqlAuthAttemptRepository:
    """Attempts in the `auth_attempts` table."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self._session = session
        self._dialect = dialect

    async def lock(self, keys: Sequence[str]) -> None:
        """Make concurrent transactions that lock any of these keys wait for this one.

        PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two
        transactions never wait for each other. SQLite: writers already run one at a time.
        """
        if self._dialect != "postgresql":
            return
        for key in sorted(set(keys)):
            await self._session.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))
            )

    async def add(
        self, kind: str, *, account_key: str | None, address_key: str | None, at: datetime
    ) -> int:
        """Record an attempt; returns its id."""
        result = await self._session.execute(
            insert(AuthAttemptRow)
            .values(kind=kind, account_key=account_key, address_key=address_key, attempted_at=at)
            .returning(AuthAttemptRow.id)
        )
        return int(result.scalar_one())

    async def remove(self, attempt_id: int) -> None:
        """Forget one attempt (it succeeded, so it is no failure)."""
        await self._session.execute(delete(AuthAttemptRow).where(AuthAttemptRow.id == attempt_id))

    async def clear_account(self, kind: str, account_key: str) -> None:
        """Forget the attempts on one account."""
        await self._session.execute(
            delete(AuthAttemptRow).where(
                AuthAttemptRow.kind == kind, AuthAttemptRow.account_key == account_key
            )
        )

    async def nth_newest(
        self,
        kind: str,
        *,
        account_key: str | None = None,
        address_key: str | None = None,
        since: datetime,
        n: int,
    ) -> datetime | None:
        """The time of the n-th newest attempt since `since` on the account or address."""
        if (account_key is None) == (address_key is None):
            raise ValueError("give exactly one of account_key and address_key")
        key_column = (
            AuthAttemptRow.account_key if account_key is not None else AuthAttemptRow.address_key
        )
        key = account_key if account_key is not None else address_key
        query = (
            select(AuthAttemptRow.attempted_at)
            .where(
                AuthAttemptRow.kind == kind,
                key_column == key,
                AuthAttemptRow.attempted_at > since,
            )
            .order_by(AuthAttemptRow.attempted_at.desc())
            .offset(max(n - 1, 0))
            .limit(1)
        )
        return (await self._session.scalars(query)).first()

    async def prune(self, before: datetime) -> None:
        """Forget attempts older than `before`."""
        await self._session.execute(
            delete(AuthAttemptRow).where(AuthAttemptRow.attempted_at < before)
        )
