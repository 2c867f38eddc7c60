"""Personas and presets in SQL: one default persona per user, unique preset names."""

from galatea.core.personas import Persona
from galatea.core.records import Image, PersonaRecord, PresetRecord
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START
from tests.storage.factories import add_user, later


async def test_only_one_persona_is_the_default(uow: SqlUnitOfWorkFactory) -> None:
    user = await add_user(uow, "alice")
    records = [
        PersonaRecord(persona=Persona(name), owner_id=user.id, created_at=START, updated_at=START)
        for name in ("Ann", "Bea", "Cat")
    ]
    async with uow() as work:
        for record in records:
            await work.personas.add(record)
        await work.personas.set_default(user.id, records[2].id)
        await work.personas.set_default(user.id, records[1].id)
        await work.commit()
        listed = await work.personas.list_for_owner(user.id)
    assert [(p.persona.name, p.is_default) for p in listed] == [
        ("Bea", True),
        ("Ann", False),
        ("Cat", False),
    ]


async def test_persona_edits_and_avatars(uow: SqlUnitOfWorkFactory) -> None:
    user = await add_user(uow, "alice")
    record = PersonaRecord(
        persona=Persona("Ann"), owner_id=user.id, created_at=START, updated_at=START
    )
    async with uow() as work:
        await work.personas.add(record)
        record.persona = Persona("Ann B.", "A traveller.")
        record.updated_at = later(2)
        await work.personas.update(record)
        record.avatar_digest = await work.personas.set_avatar(record.id, Image(b"img", "image/png"))
        await work.commit()
        assert await work.personas.get(record.id) == record
        assert await work.personas.get_avatar(record.id) == Image(b"img", "image/png")
        await work.personas.delete(record.id)
        assert await work.personas.get(record.id) is None


async def test_preset_names_are_unique_per_owner(uow: SqlUnitOfWorkFactory) -> None:
    alice, bob = await add_user(uow, "alice"), await add_user(uow, "bob")

    def preset(owner_id: str, name: str) -> PresetRecord:
        return PresetRecord(
            owner_id=owner_id,
            name=name,
            settings={"temperature": 0.8},
            created_at=START,
            updated_at=START,
        )

    creative, precise = preset(alice.id, "Creative"), preset(alice.id, "Precise")
    async with uow() as work:
        assert await work.presets.add(creative)
        assert await work.presets.add(precise)
        assert not await work.presets.add(preset(alice.id, "Creative"))
        assert await work.presets.add(preset(bob.id, "Creative"))
        precise.name = "Creative"
        assert not await work.presets.update(precise)
        precise.name, precise.settings = "Exact", {"temperature": 0.1, "top_k": 1}
        assert await work.presets.update(precise)
        await work.commit()
        assert [p.name for p in await work.presets.list_for_owner(alice.id)] == [
            "Creative",
            "Exact",
        ]
        assert await work.presets.get(precise.id) == precise
