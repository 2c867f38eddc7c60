"""Pure ASGI middleware: the checks every request passes before any route sees it."""
