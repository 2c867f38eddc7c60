"""Server-rendered pages (Jinja2 + HTMX). Each module holds one router; `page_routers` lists
them. Pages call the same services as the JSON API and show service errors in the form that
caused them."""

from fastapi import APIRouter

from galatea.web.pages import (
    admin,
    auth,
    characters,
    chats,
    library,
    personas,
    presets,
    settings,
    usage,
)


def page_routers() -> list[APIRouter]:
    """Every page router."""
    return [
        auth.router,
        library.router,
        characters.router,
        personas.router,
        chats.router,
        presets.router,
        settings.router,
        usage.router,
        admin.router,
    ]
