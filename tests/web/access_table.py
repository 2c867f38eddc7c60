"""The table the access-control test walks: every endpoint that takes an object's id.

`test_access_control.py` makes one private object of each kind as its owner (alice), then
calls every endpoint below as a second user (bob): each call must answer 404, exactly as for
an id that does not exist, and the owner's objects must be unchanged afterwards.

To cover a new area (chats, messages, presets, ...):
1. add a factory to OBJECT_FACTORIES: it makes the owner's private object and returns its id;
2. add a row to ENDPOINTS for each route, with `{kind}` where the id goes (`json`, `form` or
   `files` give the request a valid body, so the answer is about access, not validation);
3. if an id-taking route is deliberately left out, add it to EXEMPT_ROUTES with the reason.
The test also fails when the app has an id-taking route that is in neither list.
"""

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image as PillowImage

from tests.web.conftest import Browser


@dataclass(frozen=True)
class Owner:
    """The owner of the objects: her browser and her API script."""

    browser: Browser
    script: httpx.AsyncClient


@dataclass(frozen=True)
class Endpoint:
    """One route that takes an object's id."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    form: dict[str, Any] | None = None
    files: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def is_page(self) -> bool:
        """Pages are called by a browser with a form; API routes by scripts and browsers."""
        return not self.path.startswith("/api/")


def _png() -> bytes:
    output = io.BytesIO()
    PillowImage.new("RGB", (4, 4)).save(output, format="PNG")
    return output.getvalue()


async def _created(response: Awaitable[httpx.Response]) -> str:
    answer = await response
    assert answer.status_code == 201, answer.text
    object_id: str = answer.json()["id"]
    return object_id


async def private_character(owner: Owner) -> str:
    """A private character with an avatar."""
    character_id = await _created(owner.script.post("/api/v1/characters", json={"name": "Private"}))
    avatar = await owner.script.put(
        f"/api/v1/characters/{character_id}/avatar", files={"file": ("a.png", _png())}
    )
    assert avatar.status_code == 200
    return character_id


async def adult_character(owner: Owner) -> str:
    """A public character flagged adult (the second user has not confirmed their age)."""
    return await _created(
        owner.script.post(
            "/api/v1/characters", json={"name": "Adult", "visibility": "public", "adult": True}
        )
    )


async def persona(owner: Owner) -> str:
    """A persona with an avatar."""
    persona_id = await _created(owner.script.post("/api/v1/personas", json={"name": "Ann"}))
    await owner.script.put(
        f"/api/v1/personas/{persona_id}/avatar", files={"file": ("a.png", _png())}
    )
    return persona_id


async def token(owner: Owner) -> str:
    """The owner's API token (the one her script uses)."""
    tokens = (await owner.script.get("/api/v1/tokens")).json()
    token_id: str = tokens[0]["id"]
    return token_id


async def session(owner: Owner) -> str:
    """The owner's browser session."""
    sessions = (await owner.browser.call("GET", "/api/v1/me/sessions")).json()
    session_id: str = next(s["id"] for s in sessions if s["current"])
    return session_id


async def chat(owner: Owner) -> str:
    """A chat with a private character of hers (it opens with a greeting)."""
    character_id = await _created(
        owner.script.post("/api/v1/characters", json={"name": "Chatty", "first_mes": "Hi!"})
    )
    return await _created(owner.script.post("/api/v1/chats", json={"character_id": character_id}))


async def message(owner: Owner) -> str:
    """The greeting of her newest chat (the `chat` factory runs first)."""
    chats = (await owner.script.get("/api/v1/chats")).json()
    messages = (await owner.script.get(f"/api/v1/chats/{chats[0]['id']}/messages")).json()
    message_id: str = messages[0]["id"]
    return message_id


async def preset(owner: Owner) -> str:
    """A generation preset."""
    return await _created(
        owner.script.post("/api/v1/presets", json={"name": "Mine", "settings": {"top_k": 5}})
    )


OBJECT_FACTORIES: dict[str, Callable[[Owner], Awaitable[str]]] = {
    "character": private_character,
    "adult_character": adult_character,
    "persona": persona,
    "token": token,
    "session": session,
    "chat": chat,
    "message": message,
    "preset": preset,
}

AVATAR = {"file": ("a.png", _png(), "image/png")}
CHARACTER_FORM = {"name": "Stolen", "visibility": "public"}

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/v1/characters/{character}"),
    Endpoint("PATCH", "/api/v1/characters/{character}", json={"name": "Stolen"}),
    Endpoint("DELETE", "/api/v1/characters/{character}"),
    Endpoint("GET", "/api/v1/characters/{character}/export?format=json"),
    Endpoint("GET", "/api/v1/characters/{character}/avatar"),
    Endpoint("PUT", "/api/v1/characters/{character}/avatar", files=AVATAR),
    Endpoint("DELETE", "/api/v1/characters/{character}/avatar"),
    Endpoint("GET", "/api/v1/characters/{adult_character}"),
    Endpoint("GET", "/api/v1/characters/{adult_character}/export?format=png"),
    Endpoint("GET", "/api/v1/characters/{adult_character}/avatar"),
    Endpoint("GET", "/api/v1/personas/{persona}"),
    Endpoint("PATCH", "/api/v1/personas/{persona}", json={"name": "Stolen", "default": True}),
    Endpoint("DELETE", "/api/v1/personas/{persona}"),
    Endpoint("GET", "/api/v1/personas/{persona}/avatar"),
    Endpoint("PUT", "/api/v1/personas/{persona}/avatar", files=AVATAR),
    Endpoint("DELETE", "/api/v1/personas/{persona}/avatar"),
    Endpoint("DELETE", "/api/v1/tokens/{token}"),
    Endpoint("DELETE", "/api/v1/me/sessions/{session}"),
    Endpoint("GET", "/characters/{character}"),
    Endpoint("GET", "/characters/{adult_character}"),
    Endpoint("GET", "/characters/{character}/edit"),
    Endpoint("POST", "/characters/{character}/edit", form=CHARACTER_FORM),
    Endpoint("GET", "/characters/{character}/delete"),
    Endpoint("POST", "/characters/{character}/delete"),
    Endpoint("GET", "/personas/{persona}/edit"),
    Endpoint("POST", "/personas/{persona}/edit", form={"name": "Stolen", "description": ""}),
    Endpoint("POST", "/personas/{persona}/default"),
    Endpoint("POST", "/personas/{persona}/delete"),
    Endpoint("POST", "/settings/sessions/{session}/end"),
    Endpoint("POST", "/settings/tokens/{token}/revoke"),
    Endpoint("GET", "/api/v1/chats/{chat}"),
    Endpoint("PATCH", "/api/v1/chats/{chat}", json={"title": "Stolen"}),
    Endpoint("DELETE", "/api/v1/chats/{chat}"),
    Endpoint("GET", "/api/v1/chats/{chat}/settings"),
    Endpoint("GET", "/api/v1/chats/{chat}/export"),
    Endpoint("GET", "/api/v1/chats/{chat}/messages"),
    Endpoint("POST", "/api/v1/chats/{chat}/messages", json={"text": "Stolen"}),
    Endpoint("POST", "/api/v1/chats/{chat}/regenerate", json={}),
    Endpoint("POST", "/api/v1/chats/{chat}/continue", json={}),
    Endpoint("POST", "/api/v1/chats/{chat}/impersonate"),
    Endpoint("POST", "/api/v1/chats/{chat}/stop"),
    Endpoint("GET", "/api/v1/chats/{chat}/stream"),
    Endpoint("PATCH", "/api/v1/chats/{chat}/messages/{message}", json={"text": "Stolen"}),
    Endpoint("DELETE", "/api/v1/chats/{chat}/messages/{message}"),
    Endpoint("POST", "/api/v1/chats/{chat}/messages/{message}/swipe", json={"step": 1}),
    Endpoint("POST", "/api/v1/chats/{chat}/messages/{message}/select"),
    Endpoint("POST", "/api/v1/chats/{chat}/messages/{message}/branch", json={}),
    Endpoint("GET", "/api/v1/chats/{chat}/messages/{message}/generation"),
    Endpoint("GET", "/api/v1/presets/{preset}"),
    Endpoint("PATCH", "/api/v1/presets/{preset}", json={"name": "Stolen"}),
    Endpoint("DELETE", "/api/v1/presets/{preset}"),
    Endpoint("GET", "/chats/{chat}"),
    Endpoint("GET", "/chats/{chat}/fragments/messages"),
    Endpoint("POST", "/chats/{chat}/send", form={"text": "Stolen"}),
    Endpoint("POST", "/chats/{chat}/rename", form={"title": "Stolen"}),
    Endpoint("POST", "/chats/{chat}/settings", form={"persona_id": "", "preset_id": ""}),
    Endpoint("POST", "/chats/{chat}/delete"),
    Endpoint("GET", "/chats?character_id={character}"),
    Endpoint("GET", "/presets/{preset}/edit"),
    Endpoint("POST", "/presets/{preset}/edit", form={"name": "Stolen"}),
    Endpoint("POST", "/presets/{preset}/delete"),
]

EXEMPT_ROUTES: dict[tuple[str, str], str] = {
    ("PATCH", "/api/v1/admin/users/{}"): "admins only (function level, 403): test_admin.py",
    ("POST", "/api/v1/admin/users/{}/password"): "admins only (function level): test_admin.py",
    ("POST", "/admin/users/{}"): "admins only (function level, 403): test_admin.py",
    ("GET", "/api/v1/admin/usage/{}"): "admins only (function level, 403): test_usage.py",
    ("PUT", "/api/v1/admin/users/{}/tier"): "admins only (function level, 403): test_usage.py",
    ("POST", "/admin/usage/users/{}/tier"): "admins only (function level, 403): test_usage.py",
}
"""Id-taking routes that are not object endpoints of a user, and why."""
