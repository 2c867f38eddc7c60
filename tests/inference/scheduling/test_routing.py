"""Routing: least outstanding requests, with a conversation returning to its backend."""

import pytest

from galatea.inference.scheduling import Replica, Router
from galatea.inference.scripted import ScriptedBackend


def replicas(*slots: int) -> list[Replica]:
    return [Replica(f"b{n}", ScriptedBackend(), count) for n, count in enumerate(slots)]


def test_requests_go_to_the_least_busy_backend() -> None:
    router = Router(replicas(2, 2))
    chosen = [router.acquire() for _ in range(4)]
    assert [r.name if r else None for r in chosen] == ["b0", "b1", "b0", "b1"]
    assert router.acquire() is None
    assert router.free_slots == 0


def test_busyness_is_measured_against_each_backends_slots() -> None:
    router = Router(replicas(1, 4))
    names = [r.name for r in (router.acquire() for _ in range(5)) if r]
    assert names.count("b1") == 4 and names.count("b0") == 1


def test_a_conversation_returns_to_the_backend_that_served_it() -> None:
    router = Router(replicas(4, 4))
    home = router.acquire("chat-1")
    assert home is not None and home.name == "b0"
    router.release(home)
    assert router.acquire() is home  # someone else now keeps b0 a little busier than b1
    assert router.acquire("chat-1") is home
    assert router.acquire("chat-2").name == "b1"  # type: ignore[union-attr]


def test_a_conversation_moves_when_its_backend_is_full_and_the_key_follows() -> None:
    router = Router(replicas(1, 1))
    home = router.acquire("chat-1")
    assert home is not None
    moved = router.acquire("chat-1")
    assert moved is not None and moved is not home
    router.release(home)
    router.release(moved)
    assert router.affine("chat-1") is moved


def test_a_conversation_moves_when_its_backend_is_much_busier() -> None:
    router = Router(replicas(4, 4), affinity_slack=0.25)
    home = router.acquire("chat-1")
    assert home is not None and home.name == "b0"
    router.release(home)
    taken = [router.acquire() for _ in range(3)]  # b0 ends up with 2 of 4 in use, b1 with 1
    assert [r.name for r in taken if r] == ["b0", "b1", "b0"]
    assert router.acquire("chat-1") is home  # a quarter busier than b1: stays
    assert router.acquire("chat-1").name == "b1"  # type: ignore[union-attr]


def test_remembered_conversations_are_bounded() -> None:
    router = Router(replicas(100), affinity_size=3)
    for n in range(5):
        router.acquire(f"chat-{n}")
    assert router.affine("chat-0") is None and router.affine("chat-4") is not None


def test_bad_pools_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one backend"):
        Router([])
    with pytest.raises(ValueError, match="distinct names"):
        Router([Replica("a", ScriptedBackend(), 1), Replica("a", ScriptedBackend(), 1)])
    with pytest.raises(ValueError, match="at least one slot"):
        Replica("a", ScriptedBackend(), 0)
    router = Router(replicas(1))
    with pytest.raises(ValueError, match="no slot taken"):
        router.release(router.replicas[0])
