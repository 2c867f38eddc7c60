"""Persistence: SQLAlchemy tables, repositories that return core objects, the unit of work
and the Alembic migrations."""
