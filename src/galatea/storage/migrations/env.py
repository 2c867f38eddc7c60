"""Alembic environment. Galatea drives Alembic from code (`storage/schema.py`), handing over an
open connection in `config.attributes["connection"]`; settings are never read here."""

from typing import Any, Literal, cast

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import String
from sqlalchemy.engine import Connection

from galatea.storage.columns import SafeString, SafeText, UtcDateTime
from galatea.storage.tables import Base


def render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """Write our column types as the plain SQLAlchemy types they store as."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(obj, SafeString):
        return f"sa.String(length={cast(String, obj.impl_instance).length})"
    if kind == "type" and isinstance(obj, SafeText):
        return "sa.Text()"
    return False


def run_migrations(connection: Connection) -> None:
    """Configure the migration context on the given connection and run it."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Run the migrations Alembic was asked for."""
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; use `galatea db`")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through `galatea db`, which opens the connection")
    run_migrations(connection)


main()
