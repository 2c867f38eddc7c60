"""How much of a cached sequence's KV a new prompt can keep.

A chat's next prompt usually starts with everything the previous one held, so only the new
tokens need evaluating. When the history was trimmed at the front, the prompt keeps its head
(system prompt, character) and then continues with a later part of the old sequence: the
dropped span is removed and the kept chunks after it are shifted down (`seq_rm` + `seq_add`,
RoPE re-applied) instead of evaluating them again. The first `keep_first` tokens are never
part of a dropped span: removing a sequence's first tokens distorts the model badly.
"""

from collections.abc import Sequence
from dataclasses import dataclass


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens `a` and `b` share."""
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


def find_run(haystack: Sequence[int], needle: Sequence[int], start: int) -> int:
    """First index >= start where `needle` occurs in `haystack`, or -1."""
    if not needle:
        return start
    first = needle[0]
    width = len(needle)
    last = len(haystack) - width
    index = start
    while index <= last:
        if haystack[index] == first and list(haystack[index : index + width]) == list(needle):
            return index
        index += 1
    return -1


@dataclass(slots=True, frozen=True)
class Move:
    """Drop cached positions [drop_start, drop_end) and move [drop_end, chunk_end) by `delta`.

    Positions are those of the cached sequence before any move; `delta` is negative and counts
    every position dropped so far, so the chunk lands right after the previous kept token.
    """

    drop_start: int
    drop_end: int
    chunk_end: int
    delta: int


@dataclass(slots=True, frozen=True)
class ReusePlan:
    """What to keep of a cached sequence for a new prompt."""

    reused: int
    """Prompt tokens whose KV is kept; evaluation starts at this index."""
    common: int
    """Length of the plain common prefix (before any shifted chunk)."""
    moves: tuple[Move, ...] = ()
    discard_from: int = 0
    """Cached position (before moves) from which the rest of the old KV is removed."""

    @property
    def shifted(self) -> int:
        """Prompt tokens kept by moving cached chunks rather than by the common prefix."""
        return self.reused - self.common


def plan_reuse(
    cached: Sequence[int],
    prompt: Sequence[int],
    *,
    allow_shift: bool = True,
    keep_first: int = 4,
    min_chunk: int = 32,
) -> ReusePlan:
    """The longest reuse of `cached` KV for `prompt`, leaving its last token to evaluate.

    The last prompt token is evaluated even on a full match, because sampling needs its logits.
    """
    limit = max(0, len(prompt) - 1)
    common = min(common_prefix(cached, prompt), limit)
    reused = common
    position = common
    moves: list[Move] = []
    removed = 0
    if allow_shift and common >= keep_first and min_chunk > 0:
        while limit - reused >= min_chunk:
            start = find_run(cached, prompt[reused : reused + min_chunk], position + 1)
            if start < 0:
                break
            length = common_prefix(cached[start:], prompt[reused:limit])
            removed += start - position
            moves.append(Move(position, start, start + length, -removed))
            reused += length
            position = start + length
    return ReusePlan(reused=reused, common=common, moves=tuple(moves), discard_from=position)


def kept_tokens(cached: Sequence[int], plan: ReusePlan) -> list[int]:
    """The token sequence the KV holds after applying `plan` (for checks and tests)."""
    tokens = list(cached[: plan.common])
    for move in plan.moves:
        tokens.extend(cached[move.drop_end : move.chunk_end])
    return tokens
