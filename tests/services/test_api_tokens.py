"""Personal API tokens: the secret is shown once and stored as a SHA-256 hash."""

import hashlib
from datetime import timedelta

import pytest

from galatea.bootstrap import Services
from galatea.core.users import Role, User
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.api_tokens import MAX_TOKENS_PER_USER, ApiTokenService
from galatea.services.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from tests.conftest import FakeClock

PASSWORD = "correct horse battery staple"
HOME = "192.0.2.10"


@pytest.fixture
def tokens(services: Services) -> ApiTokenService:
    return services.api_tokens


@pytest.fixture
async def alice(services: Services) -> User:
    return await services.accounts.sign_up("alice", PASSWORD, address=HOME)


async def test_a_token_resolves_to_its_user_and_only_its_hash_is_stored(
    services: Services, tokens: ApiTokenService, alice: User
) -> None:
    grant = await tokens.create(alice, "  my script  ")
    assert grant.secret.startswith("gal_")
    assert grant.token.name == "my script"
    assert grant.secret.endswith(grant.token.hint)
    async with services.uow(write=False) as work:
        assert await work.api_tokens.get_by_token_hash(grant.secret) is None
        digest = hashlib.sha256(grant.secret.encode()).hexdigest()
        assert await work.api_tokens.get_by_token_hash(digest) == grant.token
    assert await tokens.resolve(grant.secret) == alice


async def test_listing_never_shows_a_secret_and_records_last_use(
    tokens: ApiTokenService, alice: User, clock: FakeClock
) -> None:
    grant = await tokens.create(alice, "laptop")
    clock.advance(minutes=1)
    await tokens.resolve(grant.secret)
    (listed,) = await tokens.list_tokens(alice)
    assert grant.secret not in repr(listed)
    assert listed.last_used_at == clock.now()


async def test_revoked_expired_and_foreign_tokens(
    services: Services, tokens: ApiTokenService, alice: User, clock: FakeClock
) -> None:
    bob = await services.accounts.sign_up("bob", PASSWORD, address=HOME)
    bobs = await tokens.create(bob, "bob's")
    short = await tokens.create(alice, "short", expires_in=timedelta(hours=1))
    with pytest.raises(NotFound):
        await tokens.revoke(alice, bobs.token.id)
    assert await tokens.resolve(bobs.secret) == bob
    await tokens.revoke(bob, bobs.token.id)
    assert await tokens.resolve(bobs.secret) is None
    assert await tokens.resolve(short.secret) == alice
    clock.advance(hours=1)
    assert await tokens.resolve(short.secret) is None


@pytest.mark.parametrize("secret", ["", "gal_" + "x" * 500, "gal_nope", "gäl_x"])
async def test_anything_else_resolves_to_nobody(tokens: ApiTokenService, secret: str) -> None:
    assert await tokens.resolve(secret) is None


async def test_a_token_for_a_username_and_password(tokens: ApiTokenService, alice: User) -> None:
    grant = await tokens.create_with_password("Alice", PASSWORD, address=HOME)
    assert await tokens.resolve(grant.secret) == alice
    with pytest.raises(AuthenticationFailed):
        await tokens.create_with_password("alice", "not the password", address=HOME)


async def test_names_are_required_and_tokens_are_capped(
    tokens: ApiTokenService, alice: User
) -> None:
    with pytest.raises(InvalidInput, match="name"):
        await tokens.create(alice, "   ")
    for index in range(MAX_TOKENS_PER_USER):
        await tokens.create(alice, f"t{index}")
    with pytest.raises(Conflict, match="at most"):
        await tokens.create(alice, "one too many")


async def test_a_disabled_users_token_stops_working(
    services: Services, tokens: ApiTokenService, alice: User
) -> None:
    root = await services.accounts.create_user(LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN)
    grant = await tokens.create(alice, "script")
    await services.accounts.set_disabled(root, alice.id, True)
    assert await tokens.resolve(grant.secret) is None
