"""Accounts in SQL."""

from datetime import datetime

from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.users import Role, User
from galatea.storage.tables import UserRow


def username_key(username: str) -> str:
    """How usernames are compared: case-folded."""
    return username.casefold()


class SqlUserRepository:
    """Users in the `users` table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User, password_hash: str) -> bool:
        """Store a new user; False when the username is taken (ignoring case)."""
        statement = insert(UserRow).values(
            id=user.id,
            username=user.username,
            username_key=username_key(user.username),
            password_hash=password_hash,
            role=user.role.value,
            tier=user.tier,
            age_confirmed=user.age_confirmed,
            disabled=user.disabled,
            created_at=user.created_at,
            password_changed_at=user.created_at,
        )
        try:
            async with self._session.begin_nested():
                await self._session.execute(statement)
        except IntegrityError:
            return False
        return True

    async def get(self, user_id: str) -> User | None:
        """The user with this id."""
        row = (await self._session.scalars(select(UserRow).where(UserRow.id == user_id))).first()
        return None if row is None else _to_user(row)

    async def get_by_username(self, username: str) -> User | None:
        """The user with this username, compared case-insensitively."""
        query = select(UserRow).where(UserRow.username_key == username_key(username))
        row = (await self._session.scalars(query)).first()
        return None if row is None else _to_user(row)

    async def get_password_hash(self, user_id: str) -> str | None:
        """The user's stored password hash."""
        query = select(UserRow.password_hash).where(UserRow.id == user_id)
        return (await self._session.scalars(query)).one_or_none()

    async def set_password_hash(self, user_id: str, password_hash: str, at: datetime) -> None:
        """Replace the user's password hash."""
        await self._session.execute(
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(password_hash=password_hash, password_changed_at=at)
        )

    async def update(self, user: User) -> None:
        """Store the user's role, tier, age confirmation and disabled flag."""
        await self._session.execute(
            update(UserRow)
            .where(UserRow.id == user.id)
            .values(
                role=user.role.value,
                tier=user.tier,
                age_confirmed=user.age_confirmed,
                disabled=user.disabled,
            )
        )

    async def list_all(self, *, offset: int = 0, limit: int = 100) -> list[User]:
        """Users in sign-up order."""
        query = (
            select(UserRow)
            .order_by(UserRow.created_at, UserRow.id)
            .offset(max(offset, 0))
            .limit(max(limit, 0))
        )
        return [_to_user(row) for row in await self._session.scalars(query)]

    async def has_admin(self, *, excluding: str | None = None) -> bool:
        """Whether an enabled admin account exists (other than `excluding`)."""
        condition = exists().where(UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False))
        if excluding is not None:
            condition = condition.where(UserRow.id != excluding)
        return bool(await self._session.scalar(select(condition)))


def _to_user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        created_at=row.created_at,
        role=Role(row.role),
        tier=row.tier,
        age_confirmed=row.age_confirmed,
        disabled=row.disabled,
    )
