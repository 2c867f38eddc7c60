"""Redis trouble as the use cases report it: `Unavailable` (HTTP 503), in words."""

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from galatea.services.errors import Unavailable


@contextmanager
def redis_unavailable(what: str) -> Iterator[None]:
    """Turn a failed Redis call inside the block into `Unavailable` naming `what` failed."""
    try:
        yield
    except (RedisError, OSError) as error:
        raise Unavailable(f"{what} cannot be reached right now; try again in a moment") from error
