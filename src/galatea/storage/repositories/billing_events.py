"""Applied payment webhook events in SQL: the record that makes a replayed event harmless."""

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.billing import BillingEvent
from galatea.storage.tables import BillingEventRow


class SqlBillingEventRepository:
    """Events in the `billing_events` table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, event: BillingEvent, received_at: datetime) -> bool:
        """Record an event as applied; False when an event with its id was recorded before."""
        statement = insert(BillingEventRow).values(
            id=event.id,
            kind=event.kind,
            user_id=event.user_id,
            tier=event.tier,
            occurred_at=event.occurred_at,
            received_at=received_at,
        )
        try:
            async with self._session.begin_nested():
                await self._session.execute(statement)
        except IntegrityError:
            return False
        return True

    async def latest_for_user(self, user_id: str) -> datetime | None:
        """When the newest event recorded for the user occurred."""
        query = select(func.max(BillingEventRow.occurred_at)).where(
            BillingEventRow.user_id == user_id
        )
        latest: datetime | None = await self._session.scalar(query)
        return latest

    async def list_for_user(self, user_id: str, *, limit: int = 50) -> list[BillingEvent]:
        """The events recorded for a user, newest first."""
        query = (
            select(BillingEventRow)
            .where(BillingEventRow.user_id == user_id)
            .order_by(BillingEventRow.occurred_at.desc(), BillingEventRow.id)
            .limit(max(limit, 0))
        )
        return [
            BillingEvent(
                id=row.id,
                kind=row.kind,
                user_id=row.user_id,
                tier=row.tier,
                occurred_at=row.occurred_at,
            )
            for row in await self._session.scalars(query)
        ]
