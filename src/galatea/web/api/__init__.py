"""The JSON API under /api/v1. Each module holds one router; `api_routers` lists them all.

A new area (chats, presets, ...) adds its module here and nothing else changes: the app
mounts every router under API_PREFIX, with the same CSRF, error and header handling.
"""

from fastapi import APIRouter

from galatea.web.api import (
    admin,
    billing,
    characters,
    chats,
    health,
    me,
    personas,
    presets,
    session,
    tokens,
    usage,
    users,
)

API_PREFIX = "/api/v1"


def api_routers() -> list[APIRouter]:
    """Every JSON API router, mounted under API_PREFIX."""
    return [
        health.router,
        users.router,
        session.router,
        me.router,
        tokens.router,
        characters.router,
        personas.router,
        chats.router,
        presets.router,
        usage.router,
        admin.router,
        billing.router,
    ]
