"""A trivial liveness check (also the baseline of the web benchmark)."""

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Answers while the process serves requests."""
    return {"status": "ok"}
