"""Rules of free text that the services check, written into the schema for API clients.

The services trim names and refuse blank ones or ones holding NUL, with a message naming the
field; the schema carries the same rule as a pattern so that clients (and schema-driven
tests) know a name of spaces is no name. Pydantic does not enforce the pattern a second time.
"""

from typing import Any

NAMED = r"^[^\x00]*[^\x00\s][^\x00]*$"
"""Some character that is not white space, and no NUL anywhere."""


def named() -> dict[str, Any]:
    """`json_schema_extra` for a name: not blank, no NUL (checked by the service)."""
    return {"pattern": NAMED}


NO_NUL = r"^[^\x00]*$"
"""Any text but NUL, which no stored text may hold."""


def without_nul() -> dict[str, Any]:
    """`json_schema_extra` for free text that may be blank but holds no NUL."""
    return {"pattern": NO_NUL}
