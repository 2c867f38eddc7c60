"""Routing between the backends of one model: least outstanding requests, with chat affinity.

A conversation's next turn shares most of its prompt with the last one; the backend that served
it still holds that prefix in its KV cache and skips re-reading it. So a request with a
`cache_key` goes back to the backend that served the key last, unless that backend is full or
much busier than the least busy one (`affinity_slack`), in which case it moves and the key
follows it.
"""

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from galatea.inference.backend import TextBackend


@dataclass(slots=True, eq=False)
class Replica:
    """One backend serving a model, and how many generations it runs at once."""

    name: str
    backend: TextBackend
    slots: int
    """The engine's batch width, or the concurrency configured for a remote server."""
    outstanding: int = 0
    """Generations running on it now."""

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"backend {self.name!r} needs at least one slot")

    @property
    def load(self) -> float:
        """Fraction of its slots in use."""
        return self.outstanding / self.slots

    @property
    def has_room(self) -> bool:
        """Whether a generation can start on it now."""
        return self.outstanding < self.slots


class Router:
    """Chooses the replica that runs each request of a model."""

    def __init__(
        self,
        replicas: Sequence[Replica],
        *,
        affinity_size: int = 4096,
        affinity_slack: float = 0.5,
    ) -> None:
        if not replicas:
            raise ValueError("a model needs at least one backend")
        names = [replica.name for replica in replicas]
        if len(set(names)) != len(names):
            raise ValueError("backends of a model need distinct names")
        self.replicas = tuple(replicas)
        self._affinity: OrderedDict[str, Replica] = OrderedDict()
        self._affinity_size = affinity_size
        self._affinity_slack = affinity_slack

    @property
    def slots(self) -> int:
        """All slots of the model's backends."""
        return sum(replica.slots for replica in self.replicas)

    @property
    def free_slots(self) -> int:
        """Slots free now."""
        return sum(replica.slots - replica.outstanding for replica in self.replicas)

    def affine(self, cache_key: str) -> Replica | None:
        """The replica that last served `cache_key`, if remembered."""
        return self._affinity.get(cache_key)

    def acquire(self, cache_key: str | None = None) -> Replica | None:
        """Take a slot for a request: its chat's backend if reasonable, else the least busy."""
        open_replicas = [replica for replica in self.replicas if replica.has_room]
        if not open_replicas:
            return None
        least = min(open_replicas, key=lambda replica: (replica.load, replica.outstanding))
        chosen = least
        if cache_key is not None:
            previous = self._affinity.get(cache_key)
            if (
                previous is not None
                and previous.has_room
                and previous.load <= least.load + self._affinity_slack
            ):
                chosen = previous
            self._remember(cache_key, chosen)
        chosen.outstanding += 1
        return chosen

    def release(self, replica: Replica) -> None:
        """Give back a slot taken with `acquire`."""
        if replica.outstanding <= 0:
            raise ValueError(f"backend {replica.name!r} has no slot taken")
        replica.outstanding -= 1

    def _remember(self, cache_key: str, replica: Replica) -> None:
        self._affinity[cache_key] = replica
        self._affinity.move_to_end(cache_key)
        while len(self._affinity) > self._affinity_size:
            self._affinity.popitem(last=False)
