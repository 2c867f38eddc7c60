"""Typed refusals of the scheduler, part of the `InferenceError` hierarchy.

InferenceError
 ├── QueueFull          refused at submit: answer 429 with Retry-After
 ├── QueueTimeout       waited longer than allowed without reaching a backend
 └── RequestRejected
      ├── UnknownTier   (tiers.py) the tier is not configured
      └── ModelNotAllowed  the tier may not use the model, or no backend serves it
"""

import math

from galatea.inference.errors import InferenceError, RequestRejected


class QueueFull(InferenceError):
    """The request was not queued; trying again after `retry_after` seconds may succeed."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        """The value of an HTTP Retry-After header: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after)))


class QueueTimeout(InferenceError):
    """The request waited longer than allowed and was taken out of the queue."""


class ModelNotAllowed(RequestRejected):
    """The user's tier may not use the model, or no backend serves it."""
