"""JSON objects received from outside (request bodies, form fields, V2 requests), parsed in one way:
malformed JSON and non-objects are InvalidInput that names what was wrong."""

from __future__ import annotations

import orjson

from .errors import InvalidInput


def json_object(raw: bytes | bytearray | memoryview | str, what: str = "the body") -> dict:
    """`raw` as a JSON object; InvalidInput naming `what` if it is not valid JSON or not an object."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return value
