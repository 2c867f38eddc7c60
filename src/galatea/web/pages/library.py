"""The public library and the user's own characters: search, tag filter, sort, pages."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from galatea.core.records import CharacterPage, CharacterSort
from galatea.web.deps import CurrentUser, ServicesDep, Viewer
from galatea.web.templating import render

router = APIRouter()
PAGE_SIZE = 24
SORT_LABELS = {
    "new": "Newest",
    "popular": "Most chats",
    "name": "Name",
    "updated": "Recently edited",
}

Search = Annotated[str, Query(max_length=200)]
Tag = Annotated[str, Query(max_length=100)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]


@router.get("/")
@router.get("/library")
async def library(
    request: Request,
    viewer: Viewer,
    services: ServicesDep,
    q: Search = "",
    tag: Tag = "",
    sort: CharacterSort = CharacterSort.NEW,
    page: PageNumber = 1,
) -> Response:
    """Public characters, newest or most chatted first, filtered by text and tag."""
    result = await services.characters.library(
        viewer, text=q, tag=tag, sort=sort, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    context = _listing(result, q, tag, sort, page, base="/library")
    return await _render_listing(request, "library.html", context)


@router.get("/characters/mine")
async def my_characters(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    q: Search = "",
    tag: Tag = "",
    sort: CharacterSort = CharacterSort.UPDATED,
    page: PageNumber = 1,
) -> Response:
    """The user's own characters, whatever their visibility."""
    result = await services.characters.mine(
        user, text=q, tag=tag, sort=sort, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    context = _listing(result, q, tag, sort, page, base="/characters/mine")
    return await _render_listing(request, "characters/mine.html", context)


def _listing(
    result: CharacterPage, q: str, tag: str, sort: CharacterSort, page: int, *, base: str
) -> dict[str, Any]:
    pages = max(1, -(-result.total // PAGE_SIZE))
    return {
        "page": result,
        "q": q,
        "tag": tag,
        "sort": sort.value,
        "sorts": SORT_LABELS,
        "page_number": page,
        "page_count": pages,
        "base": base,
    }


async def _render_listing(request: Request, template: str, context: dict[str, Any]) -> Response:
    # HTMX asks for the results alone when the search box or a filter changes.
    if request.headers.get("hx-target") == "results":
        return await render(request, "partials/character_results.html", context)
    return await render(request, template, context)
