"""Tokenizing through a remote server's own routes, or an approximate count when it has none.

Servers differ in route, field names and whether they add BOS: `/tokenize` (llama.cpp server,
vLLM), `/v1/tokenize` (Aphrodite), `/extras/tokenize` (llama-cpp-python's server, always adds
BOS when the model does), `/v1/token/encode` (TabbyAPI), `/api/extra/tokencount` (KoboldCpp).
`HttpTokenizer` tries the routes its dialect names, remembers the first one the server answers,
and learns what the server adds around every text by tokenizing the empty string once.
"""

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from galatea.inference.errors import BackendHTTPError, RequestRejected
from galatea.inference.remote.endpoints import Endpoint
from galatea.inference.remote.responses import request_json

Body = dict[str, Any]

_NOT_A_ROUTE_ANSWER = frozenset({401, 403, 408, 429})
"""4xx statuses that say nothing about the route (auth, rate limits); other 4xx mean "try the
next route": 404/405 for a missing route, 400/422 for a route of the same name that expects
another body."""


@dataclass(slots=True, frozen=True)
class TokenizerRoute:
    """One server's tokenize / detokenize routes and their body shapes."""

    encode_path: str
    encode_body: Callable[[str], Body]
    decode_path: str
    decode_body: Callable[[Sequence[int]], Body]


def _text_fields(text: str) -> Body:
    # llama.cpp reads `content`, vLLM `prompt`; each ignores the other's field.
    return {
        "content": text,
        "prompt": text,
        "add_special": False,
        "add_special_tokens": False,
        "parse_special": True,
    }


TOKENIZE = TokenizerRoute(
    "/tokenize", _text_fields, "/detokenize", lambda ids: {"tokens": list(ids)}
)
"""llama.cpp server and vLLM."""
V1_TOKENIZE = TokenizerRoute(
    "/v1/tokenize", _text_fields, "/v1/detokenize", lambda ids: {"tokens": list(ids)}
)
"""Aphrodite."""
EXTRAS_TOKENIZE = TokenizerRoute(
    "/extras/tokenize",
    lambda text: {"input": text},
    "/extras/detokenize",
    lambda ids: {"tokens": list(ids)},
)
"""llama-cpp-python's server."""
TABBY_TOKENIZE = TokenizerRoute(
    "/v1/token/encode",
    lambda text: {"text": text, "add_bos_token": False, "encode_special_tokens": True},
    "/v1/token/decode",
    lambda ids: {"tokens": list(ids), "add_bos_token": False},
)
"""TabbyAPI."""
KOBOLD_TOKENIZE = TokenizerRoute(
    "/api/extra/tokencount",
    lambda text: {"prompt": text},
    "/api/extra/detokenize",
    lambda ids: {"ids": list(ids)},
)
"""KoboldCpp."""


def parse_tokens(payload: Any) -> list[int]:
    """Token ids from any known tokenize answer (ids, or objects with an `id`)."""
    raw = payload.get("tokens", payload.get("ids")) if isinstance(payload, dict) else None
    if not isinstance(raw, list):
        raise BackendHTTPError(200, "the tokenize answer has no token list")
    tokens: list[int] = []
    for item in raw:
        value = item.get("id") if isinstance(item, dict) else item
        if not isinstance(value, int) or isinstance(value, bool):
            raise BackendHTTPError(200, "the tokenize answer holds a non-integer token")
        tokens.append(value)
    return tokens


def parse_text(payload: Any) -> str:
    """Text from any known detokenize answer."""
    if isinstance(payload, dict):
        for key in ("content", "prompt", "text", "result"):
            value = payload.get(key)
            if isinstance(value, str):
                return value
    raise BackendHTTPError(200, "the detokenize answer has no text")


class ApproximateTokenizer:
    """A stand-in for servers without a tokenize route: counts are estimates, from length.

    About four characters of English per token for the usual BPE vocabularies; this rounds
    up from three so budgets err on the side of fitting. `encode`/`decode` are impossible.
    """

    CHARS_PER_TOKEN = 3.0

    async def encode(self, text: str) -> list[int]:  # noqa: ARG002 (the protocol's signature)
        """Not available: there is no real tokenizer behind this one."""
        raise RequestRejected("this backend offers no tokenizer; only approximate counts")

    async def decode(self, tokens: Sequence[int]) -> str:  # noqa: ARG002 (as above)
        """Not available: there is no real tokenizer behind this one."""
        raise RequestRejected("this backend offers no tokenizer; only approximate counts")

    async def count(self, text: str) -> int:
        """An upper-leaning estimate of the number of tokens in `text`."""
        return math.ceil(len(text) / self.CHARS_PER_TOKEN)


class HttpTokenizer:
    """The model's tokenizer, over the server's own routes; approximate counts if it has none."""

    def __init__(
        self, client: httpx.AsyncClient, endpoint: Endpoint, routes: Sequence[TokenizerRoute]
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self._candidates = tuple(routes)
        self._route: TokenizerRoute | None = None
        self._searched = False
        self._added: tuple[list[int], list[int]] = ([], [])
        self._lock = asyncio.Lock()
        self._approximate = ApproximateTokenizer()

    @property
    def exact(self) -> bool | None:
        """True once a tokenize route answered, False if none exists, None before asking."""
        if not self._searched:
            return None
        return self._route is not None

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without the BOS/EOS some servers add around it."""
        route = await self._find_route()
        if route is None:
            return await self._approximate.encode(text)
        tokens = await self._encode_raw(route, text)
        head, tail = self._added
        end = len(tokens) - len(tail) if tail and tokens[-len(tail) :] == tail else len(tokens)
        start = len(head) if head and tokens[: len(head)] == head else 0
        return tokens[start:end]

    async def decode(self, tokens: Sequence[int]) -> str:
        """Text of token ids."""
        route = await self._find_route()
        if route is None:
            return await self._approximate.decode(tokens)
        payload = await self._post(route.decode_path, route.decode_body(tokens))
        return parse_text(payload)

    async def count(self, text: str) -> int:
        """Number of tokens in `text` (an estimate when the server cannot tokenize)."""
        if await self._find_route() is None:
            return await self._approximate.count(text)
        return len(await self.encode(text))

    async def _find_route(self) -> TokenizerRoute | None:
        if not self._searched:
            async with self._lock:
                await self._search()
        return self._route

    async def _search(self) -> None:
        """Find the first route the server answers (another task may have done it already)."""
        if not self._searched:
            for route in self._candidates:
                try:
                    # The empty text shows what the server adds around every text: at most
                    # BOS before and EOS after (one added token is taken to be BOS).
                    around = await self._encode_raw(route, "")
                except BackendHTTPError as exc:
                    # A 200 whose body is not a token list is some other route (or a
                    # catch-all page), so it is skipped like a 404.
                    if exc.status == 501 or (
                        exc.status < 500 and exc.status not in _NOT_A_ROUTE_ANSWER
                    ):
                        continue
                    raise
                self._route, self._added = route, (around[:1], around[1:])
                break
            self._searched = True

    async def _encode_raw(self, route: TokenizerRoute, text: str) -> list[int]:
        return parse_tokens(await self._post(route.encode_path, route.encode_body(text)))

    async def _post(self, path: str, body: Body) -> Any:
        return await request_json(self._client, self._endpoint, "POST", path, body)
