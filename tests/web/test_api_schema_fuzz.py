"""Schemathesis against our own OpenAPI schema, in process, as a signed-in admin with a token.

Every operation of /api/v1 gets generated requests, valid and invalid; each answer must be a
non-5xx status the schema documents, with the documented content type and body shape, and
invalid requests must be refused. Most of the time a path id names a real object seeded before
the run (a character with a lorebook and an avatar, a chat with a reply, a persona, a preset,
another account), so generated bodies reach the services rather than the 404 of an unknown id;
deleting routes get objects of their own, so one delete does not starve the operations after
it. SQLite only; the example count is small so the run stays within about a minute on two cores.
"""

import asyncio
import importlib
import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from PIL import Image

from galatea.bootstrap import build_services
from galatea.config import Settings
from galatea.core.users import Role
from galatea.inference.scripted import ScriptedBackend
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.passwords import Argon2PasswordHasher
from galatea.storage.db import sqlite_url
from galatea.web.app import OPENAPI_URL, create_app
from tests.conftest import FakeClock
from tests.services.chat_setup import scripted_source
from tests.web.conftest import PASSWORD, Browser, client_for, running_app

EXAMPLES = int(os.environ.get("GALATEA_FUZZ_EXAMPLES", "12"))
"""Examples per operation; raise it for a deeper run, e.g. GALATEA_FUZZ_EXAMPLES=200."""
HOST = "testserver"
"""The Host header schemathesis's in-process client sends."""
CARD: dict[str, Any] = {
    "name": "Ava",
    "description": "{{char}} tends a greenhouse.",
    "first_mes": "Hello {{user}}.",
    "alternate_greetings": ["Welcome back."],
    "tags": ["plants"],
    "character_book": {
        "name": "Greenhouse",
        "entries": [{"keys": ["fern"], "content": "Ferns like shade.", "enabled": True}],
    },
}
VICTIMS = 3
"""Objects seeded for each deleting route; later examples get ids of objects already gone."""
UPLOADS = (
    "POST /api/v1/characters/import",
    "POST /api/v1/characters/import-batch",
    "PUT /api/v1/characters/{character_id}/avatar",
    "PUT /api/v1/personas/{persona_id}/avatar",
    "POST /api/v1/chats/import",
)
"""File uploads: the file's content decides (a schema cannot say what a card is), and any
generated part is bytes, so a 'schema-violating' file does not exist."""
RULES_BEYOND_THE_SCHEMA = {
    "POST /api/v1/users": "passwords: not a common one, not the username",
    "POST /api/v1/admin/users": "passwords: not a common one, not the username",
    "POST /api/v1/me/password": "passwords: not a common one, not the username",
    "POST /api/v1/admin/users/{user_id}/password": "passwords: not a common one",
    "POST /api/v1/presets": "settings are checked against GET /presets/fields",
    "PATCH /api/v1/presets/{preset_id}": "settings are checked against GET /presets/fields",
    "PATCH /api/v1/chats/{chat_id}": "settings are checked against GET /presets/fields",
    "GET /api/v1/admin/usage": "'since' must not be after 'until'",
    "GET /api/v1/admin/usage/{user_id}": "'since' must not be after 'until'",
    "PUT /api/v1/admin/users/{user_id}/tier": "tiers are the site's configuration",
    "PATCH /api/v1/admin/users/{user_id}": "tiers are the site's configuration",
    "POST /api/v1/billing/webhook": "a signature cannot be generated from a schema (400)",
}
"""Operations whose schema-valid requests may still break a documented rule the schema cannot
express; for these (and uploads) alone a 422 is an acceptable answer to valid data."""
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
"""What valid data may get elsewhere: unknown ids, conflicts and limits are not the schema's."""


@dataclass
class Seeded:
    """What the run signs in with, and the objects path ids name."""

    token: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    """Path parameter name -> id of an object no route deletes."""
    victims: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """Deleting operation (`DELETE /api/v1/...`) -> path parameters of objects it may consume."""


@dataclass
class FuzzTarget:
    """The app schemathesis drives (its lifespan is started by schemathesis) and its data."""

    app: FastAPI
    seeded: Seeded


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 120, 60)).save(buffer, "PNG")
    return buffer.getvalue()


def _made(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


class Seeder:
    """Makes objects through the API as the fuzzing admin."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.made = 0

    async def character(self) -> dict[str, str]:
        """A character with a lorebook and an avatar."""
        made = _made(await self.client.post("/api/v1/characters", json=CARD))
        avatar = {"file": ("a.png", _png(), "image/png")}
        _made(await self.client.put(f"/api/v1/characters/{made['id']}/avatar", files=avatar))
        return {"character_id": made["id"]}

    async def chat(self, character_id: str) -> dict[str, str]:
        """A chat with a greeting, a user message and a reply; the reply's id."""
        made = _made(await self.client.post("/api/v1/chats", json={"character_id": character_id}))
        sent = await self.client.post(f"/api/v1/chats/{made['id']}/messages", json={"text": "Hi"})
        assert sent.status_code == 200, sent.text
        messages = (await self.client.get(f"/api/v1/chats/{made['id']}/messages")).json()
        return {"chat_id": made["id"], "message_id": messages[-1]["id"]}

    async def persona(self) -> dict[str, str]:
        """A persona with an avatar."""
        made = _made(
            await self.client.post("/api/v1/personas", json={"name": "Sam", "description": "Me."})
        )
        avatar = {"file": ("a.png", _png(), "image/png")}
        _made(await self.client.put(f"/api/v1/personas/{made['id']}/avatar", files=avatar))
        return {"persona_id": made["id"]}

    async def preset(self) -> dict[str, str]:
        """A generation preset."""
        self.made += 1
        body = {"name": f"Warm {self.made}", "settings": {"temperature": 0.9}}
        return {"preset_id": _made(await self.client.post("/api/v1/presets", json=body))["id"]}

    async def user(self) -> dict[str, str]:
        """Another ordinary account."""
        self.made += 1
        body = {"username": f"someone{self.made}", "password": PASSWORD}
        return {"user_id": _made(await self.client.post("/api/v1/admin/users", json=body))["id"]}

    async def token(self) -> dict[str, str]:
        """A spare API token of the fuzzing admin, made the way scripts make one."""
        self.made += 1
        body = {"username": "fuzzer", "password": PASSWORD, "name": f"spare {self.made}"}
        _made(await self.client.post("/api/v1/tokens", json=body))
        listed = (await self.client.get("/api/v1/tokens")).json()
        return {"token_id": next(t["id"] for t in listed if t["name"] == body["name"])}


async def _seed(app: FastAPI) -> Seeded:
    services = app.state.services
    admin = await services.accounts.create_user(LOCAL_OPERATOR, "fuzzer", PASSWORD, role=Role.ADMIN)
    grant = await services.api_tokens.create(admin, "fuzz")
    seeded = Seeded(token=grant.secret)
    headers = {"Authorization": f"Bearer {grant.secret}"}
    async with client_for(app, headers=headers) as client:
        make = Seeder(client)
        seeded.ids.update(await make.character())
        seeded.ids.update(await make.chat(seeded.ids["character_id"]))
        seeded.ids.update(await make.persona())
        seeded.ids.update(await make.preset())
        seeded.ids.update(await make.user())
        for _ in range(VICTIMS):
            for operation, victim in (
                ("DELETE /api/v1/characters/{character_id}", await make.character()),
                ("DELETE /api/v1/chats/{chat_id}", await make.chat(seeded.ids["character_id"])),
                (
                    "DELETE /api/v1/chats/{chat_id}/messages/{message_id}",
                    await make.chat(seeded.ids["character_id"]),
                ),
                ("DELETE /api/v1/personas/{persona_id}", await make.persona()),
                ("DELETE /api/v1/presets/{preset_id}", await make.preset()),
                ("DELETE /api/v1/tokens/{token_id}", await make.token()),
            ):
                seeded.victims.setdefault(operation, []).append(victim)
    return seeded


@pytest.fixture
def target(
    sqlite_template: Path, tmp_path: Path, password_hasher: Argon2PasswordHasher
) -> FuzzTarget:
    """A seeded SQLite database and a fresh, not yet started app on it."""
    database = tmp_path / "galatea.db"
    shutil.copyfile(sqlite_template, database)
    config = Settings(
        database_url=sqlite_url(database),
        data_dir=tmp_path / "data",
        web={"allowed_hosts": ["localhost", HOST]},
        billing={"webhook_secret": "fuzzing-secret"},
    )

    def services() -> Any:
        backend = ScriptedBackend(replies=["The ferns are lovely today."])
        return build_services(
            config, clock=FakeClock(), hasher=password_hasher, backends=[scripted_source(backend)]
        )

    async def seed() -> Seeded:
        async with running_app(config, services()) as seeding:
            return await _seed(seeding)

    seeded = asyncio.run(seed())
    # The services are passed in but not started: schemathesis runs the app's lifespan on the
    # event loop of its own in-process client.
    return FuzzTarget(create_app(config, services=services()), seeded)


def _with_real_ids(case: Any, seeded: Seeded) -> None:
    """Point the case's ids at seeded objects (deleting routes consume objects of their own)."""
    if isinstance(case.body, dict):
        case.body = {name: seeded.ids.get(name, value) for name, value in case.body.items()}
    if not case.path_parameters:
        return
    victims = seeded.victims.get(f"{case.method.upper()} {case.path}")
    if victims is not None:
        if victims:
            victim = victims.pop()
            case.path_parameters = {name: victim[name] for name in case.path_parameters}
        return
    case.path_parameters = {
        name: seeded.ids.get(name, value) for name, value in case.path_parameters.items()
    }


@contextmanager
def hypothesis_restored() -> Iterator[None]:
    """Put back what importing schemathesis re-wires in Hypothesis for the whole process.

    Schemathesis swaps Hypothesis's example printer for one that prints nothing and enlarges its
    buffer; every other property test of the session would then report failing examples as
    blanks. (Its pytest plugin, which imports it at start-up, is off in pyproject.toml.)
    """
    from hypothesis import core as root_core
    from hypothesis.internal import entropy
    from hypothesis.internal.conjecture import engine
    from hypothesis.strategies._internal import collections
    from hypothesis.strategies._internal import core as strategies_core

    saved = [
        (root_core, "RepresentationPrinter"),
        (root_core, "BUFFER_SIZE"),
        (engine, "BUFFER_SIZE"),
        (collections, "BUFFER_SIZE"),
        (strategies_core, "is_first_param_referenced_in_function"),
        (entropy, "register_random"),
    ]
    values = [(module, name, getattr(module, name)) for module, name in saved]
    try:
        yield
    finally:
        for module, name, value in values:
            setattr(module, name, value)


@pytest.fixture
def schemathesis() -> Iterator[ModuleType]:
    """The schemathesis module, wired into Hypothesis for this test only."""
    with hypothesis_restored():
        module = importlib.import_module("schemathesis")
        # Imported before (an earlier run in this process): wire Hypothesis again.
        wiring = importlib.import_module("schemathesis.generation.hypothesis")
        wiring.setup._is_patched = False
        wiring.setup()
        try:
            yield module
        finally:
            # The app's lifespan runs on schemathesis's own event loop until ended here.
            importlib.import_module("schemathesis.python.asgi").shutdown_lifespans()


@st.composite
def _invalid_requests(draw: st.DrawFn, operation: Any, schemathesis: ModuleType) -> Any:
    try:
        return draw(operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))
    except InvalidArgument:
        # A "too long" mutation of a field whose maxLength (200,000 characters for card text)
        # is beyond what Hypothesis can generate; that one example is skipped.
        reject()


def _fuzz(
    schemathesis: ModuleType, operation: Any, seeded: Seeded, answers: dict[str, list[int]]
) -> None:
    headers = {"Authorization": f"Bearer {seeded.token}"}
    cases = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        _invalid_requests(operation, schemathesis),
    )

    @given(case=cases, real_ids=st.integers(0, 3))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, real_ids: int) -> None:
        # Only valid requests get real ids: a real id would mend an invalid request.
        if real_ids and case.meta is not None and case.meta.generation.mode.is_positive:
            _with_real_ids(case, seeded)
        response = case.call_and_validate(headers=headers)
        answers.setdefault(operation.label, []).append(response.status_code)

    run()


def test_the_api_answers_every_generated_request_as_documented(
    schemathesis: ModuleType, target: FuzzTarget
) -> None:
    valid_but_refused = {"expected-statuses": [*ACCEPTED, "413", "415", "422"]}
    unsigned = {"expected-statuses": [*ACCEPTED, "400", "422"]}
    per_operation = [
        {
            "include-name": name,
            "checks": {
                "positive_data_acceptance": unsigned if "webhook" in name else valid_but_refused
            },
        }
        for name in RULES_BEYOND_THE_SCHEMA
    ] + [
        {
            "include-name": name,
            "checks": {
                "positive_data_acceptance": valid_but_refused,
                "negative_data_rejection": {"enabled": False},
            },
        }
        for name in UPLOADS
    ]
    config = schemathesis.Config.from_dict({"operations": per_operation})
    schema = schemathesis.openapi.from_asgi(OPENAPI_URL, target.app, config=config)
    failures: list[str] = []
    answers: dict[str, list[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz(schemathesis, operation, target.seeded, answers)
        except (Exception, BaseExceptionGroup) as error:  # report every operation's failures
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
    assert len(answers) > 60
    # The seeded ids let most operations succeed at least once, so the services were reached.
    succeeded = {label for label, codes in answers.items() if any(c < 300 for c in codes)}
    print(answers)
    assert len(succeeded) > 0.8 * len(answers), sorted(set(answers) - succeeded)


async def test_every_operation_documents_the_error_shape_it_answers_with(
    anonymous: Browser,
) -> None:
    schema = (await anonymous.page(OPENAPI_URL)).json()
    error = {"$ref": "#/components/schemas/ErrorPublic"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("4XX", "5XX"):
                body = responses[status]["content"]["application/json"]["schema"]
                assert body == error, f"{method} {path} {status}"
            assert "422" not in responses, f"{method} {path} keeps FastAPI's 422 shape"
    assert "HTTPValidationError" not in schema["components"]["schemas"]


async def test_only_the_nickname_and_the_lorebook_may_be_null(
    anonymous: Browser, alice: Browser
) -> None:
    schema = (await anonymous.page(OPENAPI_URL)).json()
    fields = schema["components"]["schemas"]["CharacterUpdate"]["properties"]
    nullable = {
        name for name, field in fields.items() if {"type": "null"} in field.get("anyOf", [])
    }
    assert nullable == {"nickname", "character_book", "visibility", "adult"}
    made = await alice.call("POST", "/api/v1/characters", json={"name": "Wren", "scenario": "Sea."})
    character = f"/api/v1/characters/{made.json()['id']}"
    refused = await alice.call("PATCH", character, json={"scenario": None})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "scenario"
    removed = await alice.call("PATCH", character, json={"nickname": None})
    assert removed.status_code == 200
    assert (await alice.call("GET", character)).json()["scenario"] == "Sea."
