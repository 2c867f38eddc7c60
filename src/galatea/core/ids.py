"""Identifiers: random, URL-safe, created by the domain so objects have ids before storage."""

import secrets


def new_id() -> str:
    """A new 22-character random identifier (128 bits, URL-safe base64 alphabet)."""
    return secrets.token_urlsafe(16)
