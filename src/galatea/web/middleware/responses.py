"""Minimal error responses for middleware that refuses a request before the app runs."""

import json

from starlette.types import Scope, Send


async def send_plain_error(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """Send a JSON error body (no request data echoed) and end the response."""
    if scope["type"] != "http":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
