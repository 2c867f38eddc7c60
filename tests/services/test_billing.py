"""The payment webhook: real HMAC-SHA256 signatures over "timestamp.body", a timestamp
tolerance, replays refused by event id, and users moved between tiers; hostile input is
refused without changing anything."""

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from galatea.core.users import User
from galatea.inference.scheduling import default_tiers
from galatea.services.billing import BillingService, WebhookPolicy, WebhookRejected
from galatea.services.errors import InvalidInput, NotFound, ServiceError, TooLarge
from galatea.services.tiers import TierService
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import FakeClock
from tests.storage.factories import add_user

SECRET = "whsec_test_3f9a7c"


def signed(body: bytes, at: float, secret: str = SECRET) -> str:
    """What a payment provider sends: t=<seconds>,v1=<hex HMAC-SHA256 of "t.body">."""
    timestamp = int(at)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def event(
    event_id: str, user: User, tier: str | None = "plus", kind: str = "tier.changed"
) -> bytes:
    data: dict[str, Any] = {"user_id": user.id}
    if tier is not None:
        data["tier"] = tier
    return json.dumps({"id": event_id, "type": kind, "data": data}).encode()


@pytest.fixture
def billing(uow: SqlUnitOfWorkFactory, clock: FakeClock) -> BillingService:
    return BillingService(
        uow, clock, TierService(uow, default_tiers()), WebhookPolicy(secret=SECRET)
    )


async def tier_of(uow: SqlUnitOfWorkFactory, user: User) -> str:
    async with uow(write=False) as work:
        stored = await work.users.get(user.id)
    assert stored is not None
    return stored.tier


async def test_a_signed_event_moves_the_user_and_a_replay_does_nothing(
    uow: SqlUnitOfWorkFactory, billing: BillingService, clock: FakeClock
) -> None:
    alice = await add_user(uow, "alice")
    body = event("evt_1", alice, "pro")
    header = signed(body, clock.now().timestamp())
    result = await billing.receive(body, header)
    assert (result.outcome, result.user_id, result.tier) == ("applied", alice.id, "pro")
    assert await tier_of(uow, alice) == "pro"
    ended = event("evt_2", alice, None, kind="subscription.ended")
    clock.advance(seconds=30)
    assert (await billing.receive(ended, signed(ended, clock.now().timestamp()))).outcome == (
        "applied"
    )
    assert await tier_of(uow, alice) == "free"
    # The first request, captured and sent again within the tolerance, is not applied twice.
    assert (await billing.receive(body, header)).outcome == "duplicate"
    assert await tier_of(uow, alice) == "free"


async def test_an_older_event_arriving_late_changes_nothing(
    uow: SqlUnitOfWorkFactory, billing: BillingService, clock: FakeClock
) -> None:
    alice = await add_user(uow, "alice")
    older = event("evt_old", alice, "plus")
    older_header = signed(older, clock.now().timestamp() - 60)
    newer = event("evt_new", alice, "pro")
    assert (await billing.receive(newer, signed(newer, clock.now().timestamp()))).outcome == (
        "applied"
    )
    assert (await billing.receive(older, older_header)).outcome == "superseded"
    assert await tier_of(uow, alice) == "pro"


async def test_users_may_be_named_by_username_and_other_types_are_acknowledged(
    uow: SqlUnitOfWorkFactory, billing: BillingService, clock: FakeClock
) -> None:
    alice = await add_user(uow, "alice")
    body = json.dumps(
        {"id": "evt_u", "type": "tier.changed", "data": {"username": "ALICE", "tier": "plus"}}
    ).encode()
    assert (await billing.receive(body, signed(body, clock.now().timestamp()))).outcome == (
        "applied"
    )
    assert await tier_of(uow, alice) == "plus"
    other = json.dumps({"id": "evt_x", "type": "invoice.paid", "data": {}}).encode()
    assert (await billing.receive(other, signed(other, clock.now().timestamp()))).outcome == (
        "ignored"
    )


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda body, header: (body, None), "header is missing"),
        (lambda body, header: (body + b" ", header), "does not match"),
        (lambda body, header: (body, signed(body, 1_735_732_800, "wrong secret")), "not match"),
        (lambda body, header: (body, header.replace("t=", "t=1")), "does not match"),
        (lambda body, header: (body, header.split(",")[1]), "needs one t="),
        (lambda body, header: (body, header.split(",")[0]), "needs 1 to 8 v1="),
        (lambda body, header: (body, header + ",v1=" + "0" * 64), None),
        (lambda body, header: (body, "t=9999999999999,v1=" + "0" * 64), "out of range"),
        (lambda body, header: (body, header + ",v1=x" * 9), "needs 1 to 8"),
        (lambda body, header: (body, header + " " * 2000), "too long"),
    ],
)
async def test_bad_signatures_are_refused_and_change_nothing(
    uow: SqlUnitOfWorkFactory,
    billing: BillingService,
    clock: FakeClock,
    mangle: Any,
    message: str | None,
) -> None:
    alice = await add_user(uow, "alice")
    body = event("evt_1", alice, "pro")
    sent_body, header = mangle(body, signed(body, clock.now().timestamp()))
    if message is None:  # a second, wrong v1 beside the right one (secret rotation) is fine
        assert (await billing.receive(sent_body, header)).outcome == "applied"
        return
    with pytest.raises(WebhookRejected, match=message):
        await billing.receive(sent_body, header)
    assert await tier_of(uow, alice) == "free"


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
async def test_events_signed_outside_the_tolerance_are_refused(
    uow: SqlUnitOfWorkFactory, billing: BillingService, clock: FakeClock, offset: int
) -> None:
    alice = await add_user(uow, "alice")
    body = event("evt_1", alice, "pro")
    with pytest.raises(WebhookRejected, match="away from this server's time"):
        await billing.receive(body, signed(body, clock.now().timestamp() + offset))
    assert await tier_of(uow, alice) == "free"


async def test_signed_but_invalid_events_are_refused_with_the_reason(
    uow: SqlUnitOfWorkFactory, billing: BillingService, clock: FakeClock
) -> None:
    alice = await add_user(uow, "alice")
    now = clock.now().timestamp()
    cases: list[tuple[bytes, type[ServiceError], str]] = [
        (b"not json", WebhookRejected, "not JSON"),
        (b"[1, 2]", WebhookRejected, "JSON object"),
        (b'{"id": "a b", "type": "tier.changed"}', WebhookRejected, "'id'"),
        (b'{"id": "e1", "type": "Tier Changed"}', WebhookRejected, "'type'"),
        (b'{"id": "e1", "type": "tier.changed", "data": []}', WebhookRejected, "'data'"),
        (b'{"id": "e1", "type": "tier.changed", "data": {}}', WebhookRejected, "name the user"),
        (event("e2", alice, "gold"), InvalidInput, "not a configured tier"),
        (event("e3", alice, None), WebhookRejected, "data.tier"),
        (b"[" * 100_000 + b"]" * 100_000, TooLarge, "at most"),
    ]
    for body, error, message in cases:
        with pytest.raises(error, match=message):
            await billing.receive(body, signed(body, now))
    ghost = json.dumps(
        {"id": "e4", "type": "tier.changed", "data": {"user_id": "nobody", "tier": "pro"}}
    ).encode()
    with pytest.raises(NotFound):
        await billing.receive(ghost, signed(ghost, now))
    assert await tier_of(uow, alice) == "free"


async def test_without_a_secret_the_webhook_does_not_exist(
    uow: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    off = BillingService(uow, clock, TierService(uow, default_tiers()), WebhookPolicy())
    assert not off.enabled
    with pytest.raises(NotFound):
        await off.receive(b"{}", signed(b"{}", clock.now().timestamp(), ""))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300), header=st.one_of(st.none(), st.text(max_size=300)))
async def test_unsigned_input_of_any_shape_is_refused_cleanly(
    billing: BillingService, body: bytes, header: str | None
) -> None:
    with pytest.raises(WebhookRejected):
        await billing.receive(body, header)
