"""Reply streams relayed through Redis Streams: a reply written in one app process can be
followed, and rejoined, from any other (the `ReplyStreamHub` shape of `reply_streams.py`).

Per chat key there is a small hash (which generation holds the chat, which process writes it,
whether it ended) and a Redis Stream of its events. Opening is one Lua script, so two
processes can never both start a reply in one chat. While a reply runs, its writer keeps both
keys alive on a lease; if the writer dies, they lapse, followers stop, and the chat is free
again. A finished stream is kept `keep_seconds` for late viewers, like the in-process one.

Every event carries its generation: a follower never mixes in the events of the chat's next
reply. Followers block on XREAD and look at the hash whenever nothing came for a while.

A stop can reach the writing process from any other: `request_stop` publishes it to the
writer, whose `on_stop` callback stops the job there.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from galatea.services.redis_errors import redis_unavailable
from galatea.services.reply_streams import StreamBusy, StreamEvent, StreamEventKind

logger = logging.getLogger(__name__)

END = "__end__"
STREAMS = "the shared reply streams"
READ_BATCH = 256
_KINDS: frozenset[str] = frozenset(StreamEventKind.__args__)  # type: ignore[attr-defined]

_OPEN = """
-- KEYS[1] state, KEYS[2] events; ARGV: generation, owner, lease ms
if redis.call('HGET', KEYS[1], 'closed') == '0' then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'owner', ARGV[2], 'closed', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

_PUBLISH = """
-- KEYS[1] state, KEYS[2] events; ARGV: generation, kind, data, lease ms
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], '*', 'g', ARGV[1], 'k', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

_CLOSE = """
-- KEYS[1] state, KEYS[2] events; ARGV: generation, keep ms
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'closed', '1')
redis.call('XADD', KEYS[2], '*', 'g', ARGV[1], 'k', '__end__', 'd', '{}')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

_RENEW = """
-- KEYS[1] state, KEYS[2] events; ARGV: generation, lease ms
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'closed') ~= '0'
then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""


class RedisReplyStream:
    """One generation's events in Redis: the writer publishes, any process follows."""

    def __init__(self, hub: "RedisReplyStreams", key: str, generation: str, closed: bool) -> None:
        self.key = key
        self.generation = generation
        self._hub = hub
        self._closed = closed
        self._lost = False

    @property
    def closed(self) -> bool:
        """Whether the generation has ended, as far as this process has seen."""
        return self._closed

    async def publish(self, event: StreamEvent) -> None:
        """Append an event for every follower, in every process.

        Redis trouble loses the event for followers but never fails the reply being written
        (it is saved all the same; a reloaded page shows it)."""
        if self._closed:
            raise RuntimeError(f"reply stream {self.key} is closed")
        if self._lost:
            return
        data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
        args = [self.generation, event.kind, data, self._hub.lease_ms]
        try:
            kept = await self._hub.script("publish")(keys=self._hub.keys(self.key), args=args)
        except (RedisError, OSError) as error:
            logger.warning("reply stream %s: an event was not relayed: %s", self.key, error)
            return
        if not kept:
            # The lease lapsed (this process stalled) and the chat was freed or taken.
            logger.warning("reply stream %s lost its lease; followers stop here", self.key)
            self._lost = True

    async def close(self) -> None:
        """Mark the stream finished; followers get what is left and stop."""
        if self._closed:
            return
        self._closed = True
        self._hub.forget(self)
        with contextlib.suppress(RedisError, OSError):
            await self._hub.script("close")(
                keys=self._hub.keys(self.key), args=[self.generation, self._hub.keep_ms]
            )

    async def follow(self, start: int = 0) -> AsyncIterator[StreamEvent]:
        """Every event from index `start` on, as they come, until the stream closes."""
        redis = self._hub.redis
        state_key, events_key = self._hub.keys(self.key)
        last_id = "0-0"
        index = 0
        while True:
            try:
                answer: Any = await redis.xread(
                    {events_key: last_id}, count=READ_BATCH, block=self._hub.block_ms
                )
                if not answer and not await self._still_running(state_key):
                    return
            except (RedisError, OSError) as error:
                # The viewer's stream ends; reconnecting picks it up where it stopped.
                logger.warning("reply stream %s cannot be followed: %s", self.key, error)
                return
            if not answer:
                continue
            entries: list[tuple[bytes, dict[bytes, bytes]]] = answer[0][1]
            for entry_id, fields in entries:
                last_id = _text(entry_id)
                if _text(fields.get(b"g")) != self.generation:
                    return
                kind = _text(fields.get(b"k"))
                if kind == END:
                    self._closed = True
                    return
                if index >= start and kind in _KINDS:
                    data = json.loads(fields.get(b"d", b"{}"))
                    yield StreamEvent(kind, data)  # type: ignore[arg-type]
                index += 1

    async def _still_running(self, state_key: str) -> bool:
        state: dict[Any, Any] = await self._hub.redis.hgetall(state_key)
        alive = _text(state.get(b"gen")) == self.generation and state.get(b"closed") == b"0"
        if not alive:
            self._closed = True
        return alive


class RedisReplyStreams:
    """The reply streams of every process sharing a Redis, by key (one running per chat)."""

    def __init__(
        self,
        redis: "Redis",
        *,
        prefix: str = "galatea:",
        keep_seconds: float = 60.0,
        lease_s: float = 30.0,
        block_s: float = 5.0,
    ) -> None:
        self.redis = redis
        self.owner = uuid.uuid4().hex
        self.keep_ms = int(keep_seconds * 1000)
        self.lease_ms = int(lease_s * 1000)
        self.block_ms = int(block_s * 1000)
        self._prefix = f"{prefix}reply:"
        self._scripts = {
            "open": redis.register_script(_OPEN),
            "publish": redis.register_script(_PUBLISH),
            "close": redis.register_script(_CLOSE),
            "renew": redis.register_script(_RENEW),
        }
        self._writing: dict[str, RedisReplyStream] = {}
        self._stop_callback: Callable[[str], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, key: str) -> RedisReplyStream:
        """A new stream for `key`; StreamBusy while one runs for it in any process."""
        generation = uuid.uuid4().hex
        args = [generation, self.owner, self.lease_ms]
        with redis_unavailable(STREAMS):
            await self.start()
            opened = await self.script("open")(keys=self.keys(key), args=args)
        if not opened:
            raise StreamBusy(key)
        stream = RedisReplyStream(self, key, generation, closed=False)
        self._writing[key] = stream
        return stream

    async def get(self, key: str) -> RedisReplyStream | None:
        """The stream for `key`, running or recently finished, wherever it is written."""
        local = self._writing.get(key)
        if local is not None:
            return local
        with redis_unavailable(STREAMS):
            state = await self.redis.hgetall(self.keys(key)[0])
        generation = _text(state.get(b"gen"))
        if not generation:
            return None
        return RedisReplyStream(self, key, generation, closed=state.get(b"closed") != b"0")

    async def running(self, key: str) -> bool:
        """Whether a generation for `key` is streaming in any process."""
        with redis_unavailable(STREAMS):
            return bool(await self.redis.hget(self.keys(key)[0], "closed") == b"0")

    def on_stop(self, callback: Callable[[str], None]) -> None:
        """Have `callback(key)` called here when another process asks to stop a reply that
        this process writes."""
        self._stop_callback = callback

    async def request_stop(self, key: str) -> bool:
        """Ask the process writing `key`'s reply to stop it; False when no other process
        writes one."""
        with redis_unavailable(STREAMS):
            state = await self.redis.hgetall(self.keys(key)[0])
            owner = _text(state.get(b"owner"))
            if not owner or state.get(b"closed") != b"0":
                return False
            if owner == self.owner:
                return False  # written here: the caller stops it directly, or it just ended
            await self.redis.publish(self._stop_channel(owner), key)
        return True

    async def start(self) -> None:
        """Begin renewing leases and listening for stops (done by the first open otherwise)."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._renew()), loop.create_task(self._listen())]

    async def aclose(self) -> None:
        """Stop the background work (streams still open lapse with their lease)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def keys(self, key: str) -> list[str]:
        """The state hash and the events stream of `key`."""
        return [f"{self._prefix}{key}", f"{self._prefix}{key}:events"]

    def script(self, name: str) -> Any:
        """A registered Lua script."""
        return self._scripts[name]

    def forget(self, stream: RedisReplyStream) -> None:
        """A stream written here closed."""
        if self._writing.get(stream.key) is stream:
            del self._writing[stream.key]

    def _stop_here(self, key: str) -> None:
        if self._stop_callback is not None and key in self._writing:
            self._stop_callback(key)

    def _stop_channel(self, owner: str) -> str:
        return f"{self._prefix}stop:{owner}"

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            for stream in list(self._writing.values()):
                try:
                    args = [stream.generation, self.lease_ms]
                    await self.script("renew")(keys=self.keys(stream.key), args=args)
                except (RedisError, OSError) as error:
                    logger.warning("could not renew reply stream %s: %s", stream.key, error)

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._stop_channel(self.owner))
                async for message in pubsub.listen():
                    self._stop_here(_text(message.get("data")))
            except (RedisError, OSError) as error:
                logger.warning("lost the reply streams' stop channel: %s", error)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
