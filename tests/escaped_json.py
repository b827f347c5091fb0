"""The longest JSON a client may send for a value: for checking bodies against a service's body limit."""

from __future__ import annotations

import json
from typing import Any

# Outside the BMP: one character to a max_length, a 12-byte surrogate pair of escapes in JSON.
ASTRAL = "\U0001f600"


def escaped_json(value: Any) -> bytes:
    """`value` as JSON with every character of every string, keys too, a \\u escape (Python's json and
    requests escape non-ASCII so by default; escaping ASCII as well is the most any encoder sends)."""
    if isinstance(value, dict):
        return b"{" + b",".join(escaped_json(k) + b":" + escaped_json(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(escaped_json(v) for v in value) + b"]"
    if isinstance(value, str):
        units = value.encode("utf-16-be")
        pairs = (units[i : i + 2] for i in range(0, len(units), 2))
        return b'"' + b"".join(b"\\u" + pair.hex().encode() for pair in pairs) + b'"'
    return json.dumps(value).encode()


def max_length(model: Any, field: str) -> int:
    """The most characters (or items) a request model's field takes, as its schema documents it."""
    schema = model.model_json_schema()["properties"][field]
    return int(schema.get("maxLength", schema.get("maxItems")))
