"""What of the generated tokens may be shown: stop strings cut, banned strings rewind.

`OutputGuard` receives each generated token with its bytes and answers with the text that is now
safe to show. Text that could still become a stop string or a banned string is held back.
A complete stop string ends the reply before it. A complete banned string (matched ignoring
case) asks the engine to rewind to the token where the match starts and ban that token there,
so the banned text is never shown and never stays in the reply.
"""

import codecs
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from galatea.inference.stops import find_stop, normalize_stops, partial_stop_length


def _fold(text: str) -> str:
    """Lower-case per character, keeping the length so indices still match the original."""
    return "".join(lower if len(lower := ch.lower()) == 1 else ch for ch in text)


@dataclass(slots=True, frozen=True)
class GuardStep:
    """The guard's answer to one token."""

    text: str = ""
    """Text now safe to show."""
    stop: str | None = None
    """A stop string ended the reply (nothing more is shown)."""
    rewind_to: int | None = None
    """Index of the generated token to resample: tokens from here on are dropped."""
    banned_token: int | None = None
    """The token to forbid at `rewind_to`."""


class OutputGuard:
    """Stop-string hold-back and banned-string rewinding over a stream of generated tokens."""

    def __init__(self, stops: Iterable[str] = (), banned: Iterable[str] = ()) -> None:
        self._stops = normalize_stops(stops)
        self._banned = tuple(_fold(b) for b in normalize_stops(banned))
        self._tokens: list[int] = []
        self._pieces: list[bytes] = []
        self._char_ends: list[int] = []
        """Characters decoded once each token has arrived."""
        self._text = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._shown = 0
        self.rewinds = 0

    @property
    def tokens(self) -> list[int]:
        """The generated tokens kept so far."""
        return self._tokens

    @property
    def text(self) -> str:
        """All text decoded so far, shown or held."""
        return self._text

    @property
    def shown(self) -> str:
        """The text released so far."""
        return self._text[: self._shown]

    def push(self, token: int, piece: bytes) -> GuardStep:
        """Add a generated token; returns what to show, or a stop or rewind."""
        self._tokens.append(token)
        self._pieces.append(piece)
        self._text += self._decoder.decode(piece)
        self._char_ends.append(len(self._text))
        pending = self._text[self._shown :]
        stop = find_stop(pending, self._stops)
        ban = self._find_banned(pending)
        if ban is not None and (stop is None or ban < stop[0]):
            return self._rewind(self._shown + ban)
        if stop is not None:
            end = self._shown + stop[0]
            released = self._text[self._shown : end]
            self._shown = end
            return GuardStep(released, stop=stop[1])
        limit = self._ban_limit(len(self._text) - partial_stop_length(pending, self._stops))
        released = self._text[self._shown : limit]
        self._shown = max(self._shown, limit)
        return GuardStep(released)

    def finish(self) -> str:
        """The reply ended without a stop string: release everything held."""
        self._text += self._decoder.decode(b"", final=True)
        released = self._text[self._shown :]
        self._shown = len(self._text)
        return released

    def give_up(self) -> str:
        """Rewinds ran out: release the text before the banned string; the reply ends there."""
        released = self._text[self._shown :]
        self._shown = len(self._text)
        return released

    def _find_banned(self, pending: str) -> int | None:
        if not self._banned:
            return None
        folded = _fold(pending)
        hits = [i for i in (folded.find(b) for b in self._banned) if i >= 0]
        return min(hits) if hits else None

    def _ends_with_banned_prefix(self, text: str) -> int:
        """Length of the longest end of `text` that begins a banned string (0 if none)."""
        folded = _fold(text)
        longest = 0
        for banned in self._banned:
            for length in range(min(len(banned) - 1, len(folded)), longest, -1):
                if folded.endswith(banned[:length]):
                    longest = length
                    break
        return longest

    def _ban_limit(self, limit: int) -> int:
        """Lower `limit` until the released text cannot be the start of a banned string.

        Held text starts at a token boundary, because a rewind drops whole tokens. And what is
        shown never ends with the start of a banned string or of a stop string: a rewind may
        replace the text after it, and a match spanning shown text could no longer be taken
        back (shown "EN" followed by a rewound "b" would let a later "D" complete "END").
        """
        if not self._banned:
            return limit
        partial = self._ends_with_banned_prefix(self._text[self._shown :])
        if partial:
            limit = min(limit, self._token_start(len(self._text) - partial))
        while limit > self._shown and self._ends_with_possible_match(
            self._text[self._shown : limit]
        ):
            limit = self._token_start(limit - 1)
        return limit

    def _ends_with_possible_match(self, text: str) -> bool:
        return bool(self._ends_with_banned_prefix(text) or partial_stop_length(text, self._stops))

    def _token_index(self, char: int) -> int:
        """The generated token whose bytes complete the character at index `char`."""
        return bisect_right(self._char_ends, char)

    def _token_start(self, char: int) -> int:
        """First character index that belongs to the token holding character `char`."""
        index = self._token_index(char)
        return self._char_ends[index - 1] if index > 0 else 0

    def _rewind(self, char: int) -> GuardStep:
        index = self._token_index(char)
        banned = self._tokens[index]
        self.truncate(index)
        self.rewinds += 1
        return GuardStep(rewind_to=index, banned_token=banned)

    def truncate(self, count: int) -> None:
        """Forget the generated tokens from index `count` on (after a rewind)."""
        del self._tokens[count:]
        del self._pieces[count:]
        # Re-decode: the dropped bytes may have completed a character begun earlier.
        self._char_ends = []
        text = ""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for piece in self._pieces:
            text += decoder.decode(piece)
            self._char_ends.append(len(text))
        self._decoder = decoder
        self._text = text
        self._shown = min(self._shown, len(text))
