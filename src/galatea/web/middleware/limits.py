"""Request body limits, enforced while the body streams in, before anything is buffered."""

import sys

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from galatea.web.middleware.responses import send_plain_error


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413: file uploads (multipart) get a larger limit.

    A declared Content-Length over the limit is refused before reading; a body that turns out
    longer than the limit stops being read at the limit.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = b""
        declared: int | None = None
        for key, value in scope.get("headers", []):
            if key == b"content-type":
                content_type = value.lower()
            elif key == b"content-length" and value.isdigit():
                # More digits than any limit has is over it (and int() refuses 4,300 digits).
                declared = int(value) if len(value) <= 18 else sys.maxsize
        multipart = content_type.startswith(b"multipart/form-data")
        limit = self.max_upload_bytes if multipart else self.max_body_bytes
        if declared is not None and declared > limit:
            await send_plain_error(scope, send, 413, _too_large(limit))
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app, so the app's error handlers answer 413.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, limited_receive, send)
