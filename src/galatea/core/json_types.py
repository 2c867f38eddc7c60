"""Type names for JSON data kept verbatim from community files."""

from typing import Any, TypeAlias

JsonValue: TypeAlias = Any
"""Any value `json.loads` can return; kept opaque so unknown data survives a round trip."""

JsonObject: TypeAlias = dict[str, Any]
"""A JSON object (`extensions`, unknown fields)."""
