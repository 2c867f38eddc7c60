"""The payment webhook: a signed event from the payment provider moves a user between tiers.

The body is read raw, because the signature covers its exact bytes. The route takes no
session or token (the signature is the credential) and exists only when a secret is set.
"""

from typing import Any

from fastapi import APIRouter, Request

from galatea.services.billing import (
    MAX_HEADER_CHARS,
    SIGNATURE_HEADER,
    SUBSCRIPTION_ENDED,
    TIER_CHANGED,
)
from galatea.web.deps import ServicesDep
from galatea.web.schemas.usage import WebhookAnswer

router = APIRouter(prefix="/billing", tags=["billing"])
# The body is read raw (the signature covers its bytes), so FastAPI cannot describe it; this
# tells API clients what the service checks: 400 names the first rule a delivery breaks.
WEBHOOK_REQUEST: dict[str, Any] = {
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>",
            "schema": {"type": "string", "maxLength": MAX_HEADER_CHARS},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
                        "type": {
                            "type": "string",
                            "pattern": "^[a-z0-9_.-]{1,64}$",
                            "description": f"{TIER_CHANGED}, {SUBSCRIPTION_ENDED}; others "
                            "are acknowledged and ignored",
                        },
                        "data": {
                            "type": "object",
                            "description": "user_id or username; tier for tier.changed",
                        },
                    },
                }
            }
        },
    },
}


@router.post("/webhook", openapi_extra=WEBHOOK_REQUEST)
async def payment_webhook(request: Request, services: ServicesDep) -> WebhookAnswer:
    """Apply a signed payment event (see docs/deploy.md for the format and signature)."""
    body = await request.body()
    result = await services.billing.receive(body, request.headers.get(SIGNATURE_HEADER))
    return WebhookAnswer(status=result.outcome, event_id=result.event_id)
