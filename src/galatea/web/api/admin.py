"""Account management for admins (function-level: anyone else gets 403)."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from galatea.services.validation import MAX_OFFSET
from galatea.web.deps import AdminUser, ServicesDep
from galatea.web.schemas.admin import (
    AdminUserCreate,
    AdminUserPublic,
    AdminUserUpdate,
    PasswordReset,
)

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/users")
async def list_users(
    admin: AdminUser,
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AdminUserPublic]:
    """Accounts in sign-up order."""
    users = await services.accounts.list_users(admin, offset=offset, limit=limit)
    return [AdminUserPublic.of(user) for user in users]


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(
    body: AdminUserCreate, admin: AdminUser, services: ServicesDep
) -> AdminUserPublic:
    """Create an account with any role."""
    user = await services.accounts.create_user(admin, body.username, body.password, role=body.role)
    return AdminUserPublic.of(user)


@router.patch("/users/{user_id}")
async def update_user(
    user_id: str, body: AdminUserUpdate, admin: AdminUser, services: ServicesDep
) -> AdminUserPublic:
    """Change an account's role or tier, or disable it (its sessions and tokens end)."""
    if body.role is not None:
        await services.accounts.set_role(admin, user_id, body.role)
    if body.tier is not None:
        await services.tiers.set_tier(admin, user_id, body.tier)
    if body.disabled is not None:
        await services.accounts.set_disabled(admin, user_id, body.disabled)
    return AdminUserPublic.of(await services.accounts.get_user(user_id))


@router.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    user_id: str, body: PasswordReset, admin: AdminUser, services: ServicesDep
) -> None:
    """Set a user's password; their sessions end."""
    await services.accounts.reset_password(admin, user_id, body.new_password)
