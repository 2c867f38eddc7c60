"""The SQL unit of work: one transaction per use case, shared by all repositories."""

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from galatea.storage.db import Database
from galatea.storage.repositories.auth_attempts import SqlAuthAttemptRepository
from galatea.storage.repositories.billing_events import SqlBillingEventRepository
from galatea.storage.repositories.characters import SqlCharacterRepository
from galatea.storage.repositories.chats import SqlChatRepository
from galatea.storage.repositories.credentials import SqlApiTokenRepository, SqlSessionRepository
from galatea.storage.repositories.personas import SqlPersonaRepository
from galatea.storage.repositories.presets import SqlPresetRepository
from galatea.storage.repositories.reply_drafts import SqlReplyDraftRepository
from galatea.storage.repositories.usage import SqlUsageRepository
from galatea.storage.repositories.users import SqlUserRepository


class ReadOnlyUnitOfWork(RuntimeError):
    """A unit of work opened for reading was asked to commit."""


class SqlUnitOfWork:
    """A transaction and the repositories that work inside it; rolled back unless committed.

    Opened with `write=False` it never takes the SQLite writer lock, and on PostgreSQL the
    transaction is READ ONLY, so a read-only use case cannot write by mistake.
    """

    users: SqlUserRepository
    sessions: SqlSessionRepository
    api_tokens: SqlApiTokenRepository
    auth_attempts: SqlAuthAttemptRepository
    characters: SqlCharacterRepository
    personas: SqlPersonaRepository
    chats: SqlChatRepository
    presets: SqlPresetRepository
    usage: SqlUsageRepository
    billing_events: SqlBillingEventRepository

    def __init__(self, database: Database, *, write: bool) -> None:
        self._database = database
        self._write = write
        self._context: AbstractAsyncContextManager[AsyncSession] | None = None
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        if self._context is not None:
            raise RuntimeError("a unit of work can be entered only once")
        self._context = self._database.session(write=self._write)
        session = await self._context.__aenter__()
        self._session = session
        dialect = self._database.url.get_backend_name()
        self.users = SqlUserRepository(session)
        self.sessions = SqlSessionRepository(session)
        self.api_tokens = SqlApiTokenRepository(session)
        self.auth_attempts = SqlAuthAttemptRepository(session, dialect)
        self.characters = SqlCharacterRepository(session)
        self.personas = SqlPersonaRepository(session)
        self.chats = SqlChatRepository(session)
        self.presets = SqlPresetRepository(session)
        self.usage = SqlUsageRepository(session, dialect)
        self.billing_events = SqlBillingEventRepository(session)
        self.reply_drafts = SqlReplyDraftRepository(session)
        return self

    async def commit(self) -> None:
        """Make the changes durable."""
        if not self._write:
            raise ReadOnlyUnitOfWork("this unit of work was opened with write=False")
        if self._session is None:
            raise RuntimeError("commit outside `async with`")
        await self._session.commit()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed and give the connection back."""
        if self._context is None or self._session is None:
            return
        try:
            await self._session.rollback()
        finally:
            await self._context.__aexit__(exc_type, exc, traceback)


class SqlUnitOfWorkFactory:
    """Opens SQL units of work on one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        """A new unit of work, entered with `async with`."""
        return SqlUnitOfWork(self.database, write=write)
