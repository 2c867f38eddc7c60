"""Alembic migrations of the Galatea schema (driven by `galatea db`, see storage/schema.py)."""
