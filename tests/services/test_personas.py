"""Personas: several per user, one default, others' personas invisible."""

import pytest

from galatea.bootstrap import Services
from galatea.core.personas import Persona
from galatea.core.records import Image
from galatea.core.users import Role, User
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.errors import Forbidden, InvalidInput, NotFound
from galatea.services.personas import PersonaService
from tests.conftest import FakeClock

PASSWORD = "correct horse battery staple"


@pytest.fixture
def personas(services: Services) -> PersonaService:
    return services.personas


@pytest.fixture
async def alice(services: Services) -> User:
    return await services.accounts.sign_up("alice", PASSWORD, address=None)


@pytest.fixture
async def bob(services: Services) -> User:
    return await services.accounts.sign_up("bob", PASSWORD, address=None)


async def test_the_first_persona_is_the_default(personas: PersonaService, alice: User) -> None:
    first = await personas.create(alice, " Ann ", " A traveller. ")
    second = await personas.create(alice, "Bea")
    assert (first.persona, first.is_default, second.is_default) == (
        Persona("Ann", "A traveller."),
        True,
        False,
    )
    await personas.set_default(alice, second.id)
    listed = await personas.list_personas(alice)
    assert [(p.persona.name, p.is_default) for p in listed] == [("Bea", True), ("Ann", False)]
    assert await personas.persona_for(alice) == Persona("Bea")


async def test_deleting_the_default_makes_the_oldest_remaining_one_the_default(
    personas: PersonaService, alice: User, clock: FakeClock
) -> None:
    first = await personas.create(alice, "Ann")
    clock.advance(minutes=1)
    await personas.create(alice, "Bea")
    clock.advance(minutes=1)
    await personas.create(alice, "Cat")
    await personas.delete(alice, first.id)
    assert await personas.persona_for(alice) == Persona("Bea")


async def test_a_chat_uses_its_own_persona_then_the_default_then_the_username(
    personas: PersonaService, alice: User, bob: User
) -> None:
    assert await personas.persona_for(alice) == Persona("alice")
    default = await personas.create(alice, "Ann")
    chosen = await personas.create(alice, "Bea")
    bobs = await personas.create(bob, "Bob's")
    assert await personas.persona_for(alice, chosen.id) == Persona("Bea")
    assert await personas.persona_for(alice, bobs.id) == default.persona
    assert await personas.persona_for(alice, "deleted-id") == default.persona


async def test_someone_elses_persona_is_not_found(
    personas: PersonaService, alice: User, bob: User
) -> None:
    bobs = await personas.create(bob, "Bob's")
    with pytest.raises(NotFound):
        await personas.get(alice, bobs.id)
    with pytest.raises(NotFound):
        await personas.get(None, bobs.id)
    with pytest.raises(NotFound):
        await personas.update(alice, bobs.id, name="stolen")
    with pytest.raises(NotFound):
        await personas.delete(alice, bobs.id)
    with pytest.raises(NotFound):
        await personas.set_default(alice, bobs.id)
    with pytest.raises(NotFound):
        await personas.set_avatar(alice, bobs.id, Image(b"x", "image/png"))
    assert (await personas.get(bob, bobs.id)).persona.name == "Bob's"


async def test_admins_may_look_but_not_change(
    services: Services, personas: PersonaService, bob: User
) -> None:
    root = await services.accounts.create_user(LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN)
    bobs = await personas.create(bob, "Bob's")
    assert (await personas.get(root, bobs.id)).id == bobs.id
    with pytest.raises(Forbidden):
        await personas.update(root, bobs.id, name="changed")


async def test_editing_and_avatars(personas: PersonaService, alice: User, clock: FakeClock) -> None:
    record = await personas.create(alice, "Ann", "Old.")
    clock.advance(minutes=3)
    edited = await personas.update(alice, record.id, description="New.")
    assert (edited.persona, edited.updated_at) == (Persona("Ann", "New."), clock.now())
    digest = await personas.set_avatar(alice, record.id, Image(b"png", "image/png"))
    assert digest is not None
    assert await personas.get_avatar(alice, record.id) == Image(b"png", "image/png")
    assert (await personas.get(alice, record.id)).avatar_digest == digest


@pytest.mark.parametrize(
    ("name", "description", "complaint"),
    [("   ", "", "must not be empty"), ("x" * 101, "", "limit is 100"), ("Ann", "a\x00b", "NUL")],
)
async def test_bad_values_are_refused_by_field(
    personas: PersonaService, alice: User, name: str, description: str, complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        await personas.create(alice, name, description)
