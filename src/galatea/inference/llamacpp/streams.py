"""Which KV stream serves which chat: admission, prefix reuse, idle caches and compaction.

The context has one KV stream per sequence slot. llama.cpp batches the streams of one decode
step together only when their ids are consecutive, so generating chats are kept packed: a chat
goes back to its own idle stream when it has one, else to a free stream next to the generating
ones; and when the generating streams are not consecutive (one in the middle finished), the
highest is copied down into the gap.

An idle stream keeps its chat's KV, so the chat's next turn evaluates only its new tokens. When
the stream is needed for another chat, its KV is saved first into a RAM snapshot store (LRU
within a byte budget) and restored when that chat comes back. Any idle stream can also lend its
prefix (a new chat with the same character shares the system prompt), but only the part before
any shifted span: shifted KV still carries the dropped history of the chat it belongs to.

This module is pure bookkeeping: it returns the operations for the engine to apply.
"""

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from galatea.inference.llamacpp.prefix import ReusePlan, plan_reuse


@dataclass(slots=True, frozen=True)
class Save:
    """Snapshot `stream`'s KV (holding `tokens`) into the store under `key`."""

    stream: int
    key: str
    tokens: tuple[int, ...]
    exact: int


@dataclass(slots=True, frozen=True)
class Restore:
    """Load a saved snapshot into `stream`."""

    snapshot: "Snapshot"
    stream: int


@dataclass(slots=True, frozen=True)
class Copy:
    """Replace `target`'s KV with a copy of `source`'s."""

    source: int
    target: int


@dataclass(slots=True, frozen=True)
class Trim:
    """Keep only what `plan` reuses of `stream`'s KV (removing and shifting spans)."""

    stream: int
    plan: ReusePlan


@dataclass(slots=True, frozen=True)
class Clear:
    """Empty `stream`'s KV."""

    stream: int


Operation = Save | Restore | Copy | Trim | Clear


@dataclass(slots=True)
class Snapshot:
    """A chat's KV saved outside the context."""

    tokens: list[int]
    data: bytes = b""
    exact: int = 0
    """Leading tokens whose KV never went through a shift."""


class SnapshotStore:
    """Saved KV of idle chats, least recently used dropped first to stay within `budget` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[str, Snapshot] = OrderedDict()
        self.size = 0

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Snapshot | None:
        """The snapshot of `key` (marked recently used), or None."""
        snapshot = self._entries.get(key)
        if snapshot is not None:
            self._entries.move_to_end(key)
        return snapshot

    def put(self, key: str, snapshot: Snapshot) -> bool:
        """Store a snapshot, evicting old ones; False when it alone exceeds the budget."""
        self.pop(key)
        if len(snapshot.data) > self.budget:
            return False
        while self.size + len(snapshot.data) > self.budget and self._entries:
            _, old = self._entries.popitem(last=False)
            self.size -= len(old.data)
        self._entries[key] = snapshot
        self.size += len(snapshot.data)
        return True

    def pop(self, key: str) -> Snapshot | None:
        """Remove and return the snapshot of `key`, if any."""
        snapshot = self._entries.pop(key, None)
        if snapshot is not None:
            self.size -= len(snapshot.data)
        return snapshot


@dataclass(slots=True)
class Stream:
    """One KV stream: what it holds and for whom."""

    index: int
    tokens: list[int] = field(default_factory=list)
    """Tokens whose KV the stream holds, at positions 0..len-1 (exact for idle streams)."""
    owner: str | None = None
    busy: bool = False
    used_at: int = 0
    exact: int = 0
    """Leading tokens whose KV never went through a shift, so other chats may borrow them."""

    def lendable(self, key: str | None) -> list[int]:
        """The tokens a request for chat `key` may reuse from this stream."""
        if key is not None and self.owner == key:
            return self.tokens
        return self.tokens[: self.exact]

    def owned_by(self, key: str | None) -> bool:
        """Whether this stream holds chat `key`'s own KV."""
        return key is not None and self.owner == key


@dataclass(slots=True, frozen=True)
class Admission:
    """Where a generation runs and what to do to its stream first."""

    stream: int
    operations: tuple[Operation, ...]
    reused: int
    """Prompt tokens served from cache."""
    source: str
    """Where the reused KV came from: "stream", "copy", "snapshot" or "none"."""


@dataclass(slots=True, frozen=True)
class Relocation:
    """A running generation moved from one stream to another (to keep streams packed)."""

    source: int
    target: int
    operations: tuple[Operation, ...]


@dataclass(slots=True)
class ReusePolicy:
    """Knobs of prefix reuse."""

    allow_shift: bool = True
    keep_first: int = 4
    min_chunk: int = 32
    min_snapshot: int = 64
    """Smallest idle KV (in tokens) worth saving to the snapshot store."""
    min_lend: int = 32
    """Shortest prefix worth borrowing from another chat's stream (a shared character prompt);
    borrowing a few template tokens saves nothing and makes replies depend on other traffic."""


class StreamTable:
    """Bookkeeping of the KV streams of one context."""

    def __init__(self, count: int, store: SnapshotStore, policy: ReusePolicy | None = None) -> None:
        self.streams = [Stream(index) for index in range(count)]
        self.store = store
        self.policy = policy or ReusePolicy()
        self._clock = 0
        self._copy_sources: set[int] = set()
        """Streams copied from since the last decode. llama.cpp copies a stream's buffers at the
        next decode, so until then nothing may overwrite them (a restore writes at once)."""

    def _plan(self, cached: Sequence[int], prompt: Sequence[int]) -> ReusePlan:
        policy = self.policy
        return plan_reuse(
            cached,
            prompt,
            allow_shift=policy.allow_shift,
            keep_first=policy.keep_first,
            min_chunk=policy.min_chunk,
        )

    @property
    def busy_count(self) -> int:
        """Streams currently generating."""
        return sum(stream.busy for stream in self.streams)

    def admit(self, key: str | None, prompt: Sequence[int]) -> Admission | None:
        """Assign a stream to a new generation, or None when every stream is busy."""
        free = [stream for stream in self.streams if not stream.busy]
        targets = [stream for stream in free if stream.index not in self._copy_sources]
        if not targets:
            return None
        target = self._choose_target(key, targets)
        free.remove(target)
        # A chat's snapshot is stale once its next turn runs, whichever KV ends up reused.
        snapshot = self.store.pop(key) if key is not None else None

        best = self._plan(target.lendable(key), prompt)
        if not target.owned_by(key) and best.reused < self.policy.min_lend:
            best = self._plan((), prompt)
        base_exact = target.exact
        source = "stream"
        lender: Stream | None = None
        for stream in free:
            plan = self._plan(stream.lendable(key), prompt)
            if not stream.owned_by(key) and plan.reused < self.policy.min_lend:
                continue
            owned = stream.owned_by(key) and not target.owned_by(key)
            if plan.reused > best.reused or (owned and plan.reused == best.reused > 0):
                best, source, lender, base_exact = plan, "copy", stream, stream.exact
        if snapshot is not None:
            plan = self._plan(snapshot.tokens, prompt)
            if plan.reused > best.reused:
                best, source, lender, base_exact = plan, "snapshot", None, snapshot.exact

        operations: list[Operation] = []
        if target.owner != key:
            self._save_if_worth(target, operations)
        if source == "copy" and lender is not None:
            operations.append(Copy(lender.index, target.index))
            self._copy_sources.add(lender.index)
            if lender.owner == key:
                lender.owner = None
        elif source == "snapshot" and snapshot is not None:
            operations.append(Restore(snapshot, target.index))
        if best.reused == 0:
            source = "none"
            operations.append(Clear(target.index))
        else:
            operations.append(Trim(target.index, best))
        target.tokens = list(prompt[: best.reused])
        target.exact = min(base_exact, best.common if best.moves else best.reused)
        target.owner = key
        target.busy = True
        return Admission(target.index, tuple(operations), best.reused, source)

    def _choose_target(self, key: str | None, free: list[Stream]) -> Stream:
        """The chat's own idle stream, else the free stream that keeps generations packed and
        holds the least valuable KV (empty, then least recently used)."""
        own = [stream for stream in free if stream.owned_by(key)]
        if own:
            return own[0]
        busy = {stream.index for stream in self.streams if stream.busy}
        return min(
            free,
            key=lambda s: (_runs(busy | {s.index}), s.owner is not None, s.used_at, s.index),
        )

    def _save_if_worth(self, stream: Stream, operations: list[Operation]) -> None:
        if stream.owner is None or self.store.budget <= 0:
            return
        if len(stream.tokens) < self.policy.min_snapshot:
            return
        operations.append(Save(stream.index, stream.owner, tuple(stream.tokens), stream.exact))

    def finish(self, index: int, kv_tokens: Sequence[int]) -> None:
        """A generation ended: its stream keeps `kv_tokens` as the chat's idle cache."""
        stream = self.streams[index]
        stream.busy = False
        if stream.exact >= len(stream.tokens):  # nothing shifted: the new tokens are exact too
            stream.exact = len(kv_tokens)
        stream.exact = min(stream.exact, len(kv_tokens))
        stream.tokens = list(kv_tokens)
        self._clock += 1
        stream.used_at = self._clock

    def compact(self) -> Relocation | None:
        """When generating streams are not consecutive, move the highest into the first gap."""
        busy = [stream.index for stream in self.streams if stream.busy]
        if _runs(set(busy)) <= 1:
            return None
        highest = busy[-1]
        hole = next(s for s in self.streams[busy[0] : highest] if not s.busy)
        moving = self.streams[highest]
        operations: list[Operation] = []
        self._save_if_worth(hole, operations)
        operations.append(Copy(highest, hole.index))
        self._copy_sources.add(highest)
        hole.tokens, hole.owner, hole.busy = moving.tokens, moving.owner, True
        hole.exact = moving.exact
        # The source keeps a stale copy; marking it empty makes its next user clear it.
        moving.tokens, moving.owner, moving.busy, moving.exact = [], None, False, 0
        return Relocation(highest, hole.index, tuple(operations))

    def decoded(self) -> None:
        """A decode ran: pending stream copies are done."""
        self._copy_sources.clear()

    def forget(self, index: int) -> None:
        """The stream's KV is unknown (after a failure): treat it as empty."""
        stream = self.streams[index]
        stream.tokens = []
        stream.owner = None
        stream.exact = 0


def _runs(indices: set[int]) -> int:
    """How many runs of consecutive numbers `indices` holds (decode calls split per run)."""
    return sum(1 for index in indices if index - 1 not in indices)
