"""Stream bookkeeping: packing, per-chat reuse, snapshots of idle chats, compaction."""

from galatea.inference.llamacpp.streams import (
    Clear,
    Copy,
    Restore,
    Save,
    Snapshot,
    SnapshotStore,
    StreamTable,
    Trim,
)

SYSTEM = list(range(500, 600))  # a shared character prompt of 100 tokens


def chat(n: int, length: int = 60) -> list[int]:
    return SYSTEM + [10_000 * n + i for i in range(length)]


def table(count: int = 3, budget: int = 10_000) -> StreamTable:
    return StreamTable(count, SnapshotStore(budget))


def finish(streams: StreamTable, index: int, tokens: list[int]) -> None:
    streams.finish(index, tokens)


def test_generations_take_the_lowest_free_streams() -> None:
    streams = table()
    first = streams.admit("a", chat(1))
    second = streams.admit("b", chat(2))
    assert first is not None and second is not None
    assert (first.stream, second.stream) == (0, 1)
    assert streams.admit("c", chat(3)) is not None
    assert streams.admit("d", chat(4)) is None  # all busy


def test_a_chats_next_turn_reuses_its_idle_stream() -> None:
    streams = table()
    admission = streams.admit("a", chat(1))
    assert admission is not None and admission.source == "none"
    finish(streams, 0, [*chat(1), 7, 8, 9])
    again = streams.admit("a", [*chat(1), 7, 8, 9, 11, 12])
    assert again is not None
    assert again.stream == 0
    assert again.source == "stream"
    assert again.reused == len(chat(1)) + 3
    assert isinstance(again.operations[-1], Trim)


def test_a_new_chat_borrows_the_shared_character_prefix() -> None:
    streams = table()
    streams.admit("a", chat(1))
    finish(streams, 0, chat(1))
    admission = streams.admit("b", chat(2))
    assert admission is not None
    # An empty stream is taken (a keeps its KV) and the shared character prompt copied into it.
    assert admission.stream == 1
    assert (admission.source, admission.reused) == ("copy", len(SYSTEM))
    assert streams.streams[0].owner == "a"
    assert streams.streams[1].tokens == SYSTEM


def test_an_idle_chat_is_saved_before_its_stream_is_reused() -> None:
    streams = table(count=1)
    streams.admit("a", chat(1))
    finish(streams, 0, chat(1))
    admission = streams.admit("b", chat(2))
    assert admission is not None
    save = admission.operations[0]
    assert isinstance(save, Save)
    assert (save.stream, save.key, list(save.tokens)) == (0, "a", chat(1))


def test_a_saved_chat_comes_back_from_its_snapshot() -> None:
    streams = table(count=1)
    streams.admit("a", chat(1))
    finish(streams, 0, chat(1))
    streams.admit("b", chat(2))
    streams.store.put("a", Snapshot(chat(1), b"x" * 100))
    finish(streams, 0, chat(2))
    admission = streams.admit("a", [*chat(1), 5, 6])
    assert admission is not None
    assert admission.source == "snapshot"
    kinds = [type(op) for op in admission.operations]
    assert kinds == [Save, Restore, Trim]  # b saved, a restored, its tail trimmed
    assert admission.reused == len(chat(1))
    assert "a" not in streams.store  # the snapshot is stale once the chat moves on


def test_a_chat_returns_to_its_own_stream_and_generations_are_packed_after() -> None:
    streams = table(count=3)
    for key in ("a", "b", "c"):
        streams.admit(key, chat(ord(key)))
    finish(streams, 2, chat(ord("c")))
    finish(streams, 1, chat(ord("b")))
    admission = streams.admit("c", [*chat(ord("c")), 1, 2])
    assert admission is not None
    assert (admission.stream, admission.source) == (2, "stream")  # no copy at admission
    assert admission.reused == len(chat(ord("c")))
    relocation = streams.compact()  # streams 0 and 2 generate: 2 moves down to 1
    assert relocation is not None
    assert (relocation.source, relocation.target) == (2, 1)
    assert [type(op) for op in relocation.operations] == [Save, Copy]  # b's KV kept first
    assert streams.compact() is None


def test_compaction_moves_the_highest_generation_into_a_gap() -> None:
    streams = table(count=3)
    for key in ("a", "b", "c"):
        streams.admit(key, chat(ord(key)))
    finish(streams, 0, chat(ord("a")))
    assert streams.compact() is None  # 1 and 2 are still consecutive
    finish(streams, 1, chat(ord("b")))
    streams.admit("a", [*chat(ord("a")), 5])  # back to stream 0: 0 and 2 generate
    relocation = streams.compact()
    assert relocation is not None
    assert (relocation.source, relocation.target) == (2, 1)
    assert [s.busy for s in streams.streams] == [True, True, False]
    assert streams.streams[1].owner == "c"
    assert streams.compact() is None


def test_no_compaction_when_generations_are_already_packed() -> None:
    streams = table(count=3)
    streams.admit("a", chat(1))
    streams.admit("b", chat(2))
    finish(streams, 1, chat(2))
    assert streams.compact() is None


def test_unrelated_prompt_clears_the_stream() -> None:
    streams = table(count=1)
    streams.admit(None, [1, 2, 3, 4])
    finish(streams, 0, [1, 2, 3, 4])
    admission = streams.admit(None, [9, 9, 9])
    assert admission is not None
    assert admission.reused == 0
    assert [type(op) for op in admission.operations] == [Clear]


def test_snapshot_store_drops_least_recently_used_within_budget() -> None:
    store = SnapshotStore(budget=250)
    assert store.put("a", Snapshot([1], b"x" * 100))
    assert store.put("b", Snapshot([2], b"x" * 100))
    assert store.get("a") is not None  # a is now the most recent
    assert store.put("c", Snapshot([3], b"x" * 100))
    assert "b" not in store
    assert "a" in store and "c" in store
    assert store.size == 200
    assert not store.put("huge", Snapshot([4], b"x" * 1000))


def test_small_or_ownerless_streams_are_not_saved() -> None:
    streams = table(count=1)
    streams.admit("a", [1, 2, 3])
    finish(streams, 0, [1, 2, 3])
    admission = streams.admit("b", [4, 5, 6])
    assert admission is not None
    assert not any(isinstance(op, Save) for op in admission.operations)


def test_shifted_kv_is_lent_to_other_chats_only_up_to_the_shift() -> None:
    streams = table(count=2)
    history = [*SYSTEM, *range(20_000, 20_200)]
    streams.admit("a", history)
    finish(streams, 0, history)
    trimmed = [*SYSTEM, *range(20_050, 20_200), 7]
    admission = streams.admit("a", trimmed)  # a front trim: shifted in place
    assert admission is not None and admission.reused == len(trimmed) - 1
    finish(streams, 0, trimmed)
    assert streams.streams[0].exact == len(SYSTEM)
    # Another chat with the very same text may only borrow the unshifted system prompt.
    other = streams.admit("b", [*trimmed, 8])
    assert other is not None
    assert (other.source, other.reused) == ("copy", len(SYSTEM))
    streams.decoded()
    finish(streams, other.stream, [*SYSTEM])
    # The chat itself still reuses all of it.
    again = streams.admit("a", [*trimmed, 9])
    assert again is not None
    assert (again.source, again.reused) == ("stream", len(trimmed))


def test_a_few_shared_template_tokens_are_not_borrowed() -> None:
    streams = table(count=2)
    streams.admit("a", [1, 2, 3, 4, 5, 6, *range(100, 200)])
    finish(streams, 0, [1, 2, 3, 4, 5, 6, *range(100, 200)])
    admission = streams.admit("b", [1, 2, 3, 4, 5, 6, *range(300, 400)])
    assert admission is not None
    assert admission.reused == 0
    assert admission.source == "none"


def test_a_stream_being_copied_is_not_overwritten_before_the_copy_happens() -> None:
    streams = table(count=3)
    streams.admit("a", chat(1))
    finish(streams, 0, chat(1))
    borrower = streams.admit("b", [*chat(1)[:-1], 4242])  # a's prefix, copied from stream 0
    assert borrower is not None and borrower.stream == 1
    assert Copy(0, 1) in borrower.operations
    other = streams.admit("c", chat(3))
    assert other is not None and other.stream == 2
    # Stream 0 is the source of a copy llama.cpp makes at the next decode: not a target before.
    assert streams.admit("d", chat(4)) is None
    streams.decoded()
    late = streams.admit("d", chat(4))
    assert late is not None and late.stream == 0
