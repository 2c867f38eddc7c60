"""The payment seam: a webhook that moves users between tiers when a signed event says so.

No payment provider is contacted. A provider (or a small adapter beside it) posts JSON events
signed with a secret both sides share:

    Galatea-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

Several `v1=` values may be given (while the secret is being rotated); one must match. The
timestamp must be within the tolerance of our clock, and each event id is applied at most
once (recorded in the database in the same transaction as the tier change), so a captured
request cannot be replayed. A user's event older than one already applied is recorded but
changes nothing. Events:

    {"id": "evt_…", "type": "tier.changed", "data": {"user_id": "…", "tier": "plus"}}
    {"id": "evt_…", "type": "subscription.ended", "data": {"user_id": "…"}}

`data` may name the user by `username` instead of `user_id`. Other types are acknowledged
and ignored, so a provider sending more kinds of events does not retry them forever.
"""

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from galatea.core.billing import BillingEvent
from galatea.services.errors import NotFound, ServiceError, TooLarge
from galatea.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from galatea.services.tiers import TierService

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Galatea-Signature"
MAX_HEADER_CHARS = 1024
MAX_SIGNATURES = 8
TIER_CHANGED = "tier.changed"
SUBSCRIPTION_ENDED = "subscription.ended"
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_EVENT_TYPE = re.compile(r"^[a-z0-9_.-]{1,64}$")
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Outcome = Literal["applied", "duplicate", "superseded", "ignored"]


class WebhookRejected(ServiceError):
    """The request is not a valid signed event (HTTP 400); the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """The shared secret and the checks on incoming events."""

    secret: str | None = field(default=None, repr=False)
    """Shared with the payment provider; None turns the webhook off (404)."""
    tolerance_s: float = 300.0
    """How far an event's timestamp may be from our clock, either way."""
    max_body_bytes: int = 64 * 1024
    """Largest event accepted."""


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What became of one delivered event."""

    outcome: Outcome
    event_id: str
    user_id: str | None = None
    tier: str | None = None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>.<body>"` (what a sender puts after `v1=`)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """A complete `Galatea-Signature` header value for `body` (for senders and tests)."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


class BillingService:
    """Verifies payment webhook events and moves users between tiers."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, tiers: TierService, policy: WebhookPolicy
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._tiers = tiers
        self.policy = policy

    @property
    def enabled(self) -> bool:
        """Whether a secret is configured (else the webhook does not exist)."""
        return bool(self.policy.secret)

    async def receive(self, body: bytes, signature: str | None) -> WebhookResult:
        """Verify one delivered event and apply it (at most once)."""
        secret = self.policy.secret
        if not secret:
            raise NotFound("webhook")
        if len(body) > self.policy.max_body_bytes:
            raise TooLarge("body", f"an event may be at most {self.policy.max_body_bytes} bytes")
        timestamp = self._verify(secret, body, signature)
        payload = _parse(body)
        event_id, kind, data = _envelope(payload)
        if kind not in (TIER_CHANGED, SUBSCRIPTION_ENDED):
            logger.info("billing event %s of type %r ignored", event_id, kind)
            return WebhookResult("ignored", event_id)
        occurred_at = datetime.fromtimestamp(timestamp, UTC)
        async with self._uow() as uow:
            user_id = await _user_id(uow, data)
            tier = (
                self._tiers.check(_text(data, "tier", 32)).name
                if kind == TIER_CHANGED
                else self._tiers.default.name
            )
            latest = await uow.billing_events.latest_for_user(user_id)
            event = BillingEvent(event_id, kind, user_id, tier, occurred_at)
            if not await uow.billing_events.add(event, self._clock.now()):
                return WebhookResult("duplicate", event_id, user_id)
            if latest is not None and latest > occurred_at:
                await uow.commit()
                return WebhookResult("superseded", event_id, user_id)
            await self._tiers.move(uow, user_id, tier)
            await uow.commit()
        logger.info("billing event %s put user %s on tier %r", event_id, user_id, tier)
        return WebhookResult("applied", event_id, user_id, tier)

    def _verify(self, secret: str, body: bytes, header: str | None) -> int:
        """The signed timestamp, once a signature over it and the body matches."""
        if not header:
            raise WebhookRejected(f"the {SIGNATURE_HEADER} header is missing")
        if len(header) > MAX_HEADER_CHARS:
            raise WebhookRejected(f"the {SIGNATURE_HEADER} header is too long")
        timestamps: list[str] = []
        signatures: list[str] = []
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key == "t":
                timestamps.append(value)
            elif key == "v1":
                signatures.append(value.lower())
        if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
            raise WebhookRejected(f"the {SIGNATURE_HEADER} header needs one t=<unix seconds>")
        if not signatures or len(signatures) > MAX_SIGNATURES:
            raise WebhookRejected(
                f"the {SIGNATURE_HEADER} header needs 1 to {MAX_SIGNATURES} v1=<signature>"
            )
        if len(timestamps[0]) > 12:
            raise WebhookRejected("the signature's timestamp is out of range")
        timestamp = int(timestamps[0])
        expected = sign(secret, timestamp, body)
        # Every candidate is compared, so the time taken says nothing about which one matched.
        matched = False
        for candidate in signatures:
            if _HEX_SHA256.match(candidate):
                matched |= hmac.compare_digest(candidate, expected)
        if not matched:
            raise WebhookRejected("the signature does not match the body")
        skew = abs(self._clock.now().timestamp() - timestamp)
        if skew > self.policy.tolerance_s:
            raise WebhookRejected(
                f"the event was signed {skew:.0f} s away from this server's time "
                f"(at most {self.policy.tolerance_s:g} s is accepted)"
            )
        return timestamp


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRejected("the body is not JSON in UTF-8") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("the body must be a JSON object")
    return payload


def _envelope(payload: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    event_id = payload.get("id")
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise WebhookRejected("'id' must be 1-128 characters of A-Z, a-z, 0-9, '_.:-'")
    kind = payload.get("type")
    if not isinstance(kind, str) or not _EVENT_TYPE.match(kind):
        raise WebhookRejected("'type' must be 1-64 characters of a-z, 0-9, '_.-'")
    data = payload.get("data", {})
    if not isinstance(data, dict):
        raise WebhookRejected("'data' must be a JSON object")
    return event_id, kind, data


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise WebhookRejected(f"'data.{key}' must be text of 1 to {limit} characters")
    return value


async def _user_id(uow: UnitOfWork, data: dict[str, Any]) -> str:
    if "user_id" in data:
        user = await uow.users.get(_text(data, "user_id", 64))
    elif "username" in data:
        user = await uow.users.get_by_username(_text(data, "username", 64))
    else:
        raise WebhookRejected("'data' must name the user by 'user_id' or 'username'")
    if user is None:
        raise NotFound("user")
    return user.id
