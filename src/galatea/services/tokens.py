"""Secrets handed to clients (session cookies, API tokens): made random, stored only as hashes.

The secrets carry 256 bits from the operating system's CSPRNG, so a fast hash (SHA-256) is
enough at rest: there is no password-like guessing to slow down.
"""

import hashlib
import secrets

SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 200
"""Longer strings are not ours; they are refused before hashing."""


def new_token(prefix: str = "") -> str:
    """A new random secret, URL-safe, with an optional recognisable prefix."""
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a secret is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_plausible_token(token: str) -> bool:
    """Whether the string could be one of our secrets (cheap check before a lookup)."""
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii()
