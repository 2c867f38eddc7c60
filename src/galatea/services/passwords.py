"""Passwords: the rules a new password must meet and argon2id hashing (argon2-cffi).

The rules follow OWASP ASVS 5.0 section 6.2: a minimum length, at least 64 characters
allowed, no composition rules, no truncation or normalisation (checked exactly as typed),
and a refusal of the most common passwords and of the username itself.
"""

import asyncio
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from galatea.services.errors import InvalidInput

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
"""Long passphrases are welcome; the cap only stops a megabyte-sized hashing request."""


@cache
def common_passwords() -> frozenset[str]:
    """Passwords refused as too common (bundled list, read once)."""
    text = files("galatea.services").joinpath("common_passwords.txt").read_text("utf-8")
    lines = (line.strip().casefold() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_new_password(password: str, *, username: str, min_length: int) -> None:
    """Raise InvalidInput unless the password may be chosen (compared exactly as typed)."""
    if len(password) < min_length:
        raise InvalidInput("password", f"must be at least {min_length} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD_LENGTH} characters long")
    lowered = password.casefold()
    if lowered in common_passwords() or len(set(password)) == 1:
        raise InvalidInput("password", "is one of the most common passwords; choose another")
    if lowered == username.casefold():
        raise InvalidInput("password", "must not be the username")


class Argon2PasswordHasher:
    """argon2id hashes, computed in worker threads so the event loop keeps serving.

    The defaults are argon2-cffi's (RFC 9106 low-memory profile: 64 MiB, 3 passes,
    4 lanes), above the ASVS minimum of 46 MiB and one pass. At most `max_concurrent`
    hashes run at once, which bounds memory (64 MiB each) and CPU under a sign-in flood.
    """

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost_kib: int = 65536,
        parallelism: int = 4,
        max_concurrent: int = 2,
    ) -> None:
        self._argon2 = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(max_concurrent)

    async def hash(self, password: str) -> str:
        """A new salted argon2id hash of the password."""
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether the password matches the hash (False for a malformed hash)."""
        async with self._slots:
            try:
                return await asyncio.to_thread(self._argon2.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
