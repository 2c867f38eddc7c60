"""Password rules and argon2id hashing."""

import pytest
from argon2 import Type, extract_parameters

from galatea.services.errors import InvalidInput
from galatea.services.passwords import (
    MAX_PASSWORD_LENGTH,
    Argon2PasswordHasher,
    check_new_password,
    common_passwords,
)


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("short", "at least 8"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most"),
        ("Password123", "most common"),
        ("aaaaaaaaaaaa", "most common"),
        ("Alice-The-Great", "must not be the username"),
    ],
)
def test_weak_passwords_are_refused_with_the_rule_they_break(password: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        check_new_password(password, username="alice-the-great", min_length=8)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "ÄÖÜ äöü ß 中文密码",
        "        spaces count",
        "0123456789abcdef" * 4,
        "lowercase",
    ],
)
def test_long_unicode_and_uncomposed_passwords_are_accepted(password: str) -> None:
    check_new_password(password, username="alice", min_length=8)


def test_the_bundled_common_list_is_loaded() -> None:
    assert "password123" in common_passwords()
    assert all(word == word.casefold() for word in common_passwords())


@pytest.fixture
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)


async def test_hashes_are_argon2id_salted_and_verify_exactly(hasher: Argon2PasswordHasher) -> None:
    first = await hasher.hash("correct horse battery staple")
    second = await hasher.hash("correct horse battery staple")
    assert first.startswith("$argon2id$")
    assert first != second
    assert await hasher.verify(first, "correct horse battery staple")
    assert not await hasher.verify(first, "correct horse battery staple ")
    assert not await hasher.verify(first, "Correct horse battery staple")


async def test_long_passwords_are_not_truncated(hasher: Argon2PasswordHasher) -> None:
    # bcrypt would accept the second: it only reads the first 72 bytes.
    first, second = "a" * 72 + "b" * 28, "a" * 72 + "c" * 28
    stored = await hasher.hash(first)
    assert await hasher.verify(stored, first)
    assert not await hasher.verify(stored, second)


async def test_a_malformed_hash_never_verifies(hasher: Argon2PasswordHasher) -> None:
    assert not await hasher.verify("not-a-hash", "anything")
    assert hasher.needs_rehash("not-a-hash")


async def test_hashes_made_with_other_parameters_need_a_rehash(
    hasher: Argon2PasswordHasher,
) -> None:
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost_kib=64, parallelism=1)
    stored = await hasher.hash("correct horse battery staple")
    assert not hasher.needs_rehash(stored)
    assert stronger.needs_rehash(stored)


async def test_the_default_parameters_meet_the_asvs_minimum() -> None:
    stored = await Argon2PasswordHasher().hash("correct horse battery staple")
    parameters = extract_parameters(stored)
    assert parameters.type is Type.ID
    assert parameters.memory_cost >= 46 * 1024
    assert parameters.time_cost >= 1
