"""Stop strings on a text stream: hold back what may become a stop string, cut at the first one.

Every backend streams text in pieces, and a stop string can arrive split across pieces
(`"<|im_"` then `"end|>"`). `StopStringFilter` releases only text that can no longer be part of
a stop string, so a partial stop string is never shown, and ends the stream at the earliest
complete one. Remote clients use it on server text; the embedded engine on decoded tokens.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def normalize_stops(stops: Iterable[str]) -> tuple[str, ...]:
    """Non-empty stop strings without duplicates, in their given order."""
    return tuple(dict.fromkeys(stop for stop in stops if stop))


def find_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    """Index and value of the earliest stop string in `text` (longest wins a tie), or None."""
    best: tuple[int, str] | None = None
    for stop in stops:
        index = text.find(stop)
        if index < 0:
            continue
        if best is None or index < best[0] or (index == best[0] and len(stop) > len(best[1])):
            best = (index, stop)
    return best


def partial_stop_length(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of `text` that is the start of a stop string (0 if none)."""
    longest = 0
    for stop in stops:
        for length in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:length]):
                longest = length
                break
    return longest


@dataclass(slots=True, frozen=True)
class FilterStep:
    """What a pushed piece of text released."""

    text: str
    """Text now safe to show."""
    stop: str | None = None
    """The stop string that ended the stream, when one did; nothing follows it."""


class StopStringFilter:
    """Streams text through, holding back possible stop strings and cutting at the first one."""

    def __init__(self, stops: Iterable[str]) -> None:
        self._stops = normalize_stops(stops)
        self._held = ""
        self._stopped: str | None = None

    @property
    def stopped(self) -> str | None:
        """The stop string that ended the stream, or None while it runs."""
        return self._stopped

    @property
    def held(self) -> str:
        """Text received but not yet released, because a stop string may start in it."""
        return self._held

    def push(self, piece: str) -> FilterStep:
        """Add a piece of generated text; returns what can be shown now."""
        if self._stopped is not None:
            return FilterStep("", self._stopped)
        text = self._held + piece
        found = find_stop(text, self._stops)
        if found is not None:
            index, stop = found
            self._held = ""
            self._stopped = stop
            return FilterStep(text[:index], stop)
        keep = partial_stop_length(text, self._stops)
        self._held = text[len(text) - keep :]
        return FilterStep(text[: len(text) - keep])

    def flush(self) -> str:
        """End of stream without a stop string: release everything still held."""
        if self._stopped is not None:
            return ""
        text, self._held = self._held, ""
        return text
