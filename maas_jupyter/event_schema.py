"""The one definition of the live events' shapes: `events.schema.json` beside this module.

The bus (maas_jupyter.events) carries plain dicts; this module says which dicts are events. The server's
tests validate everything their buses publish against the schema, and `scripts/make_event_types.py`
generates the sidebar's TypeScript types from it, so the server and the client cannot drift apart
without a test failing.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import InvalidInput

SCHEMA_PATH = Path(__file__).with_name("events.schema.json")


@functools.cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def _by_type(options: list[dict]) -> dict[str, Draft202012Validator]:
    """One validator per "type" of a oneOf, so an event that does not fit says what is wrong with it,
    not only that it fits none of the kinds."""
    whole = schema()
    validators = {}
    for option in options:
        name = option["$ref"].rsplit("/", 1)[-1]
        for event_type in _types_of(whole["$defs"][name]):
            validators[event_type] = Draft202012Validator({"$defs": whole["$defs"], **option})
    return validators


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    return _by_type(schema()["oneOf"])


@functools.cache
def _trainer_validators() -> dict[str, Draft202012Validator]:
    return _by_type(schema()["$defs"]["TrainerEvent"]["oneOf"])


def _types_of(definition: dict) -> list[str]:
    kind = definition["properties"]["type"]
    return [kind["const"]] if "const" in kind else list(kind["enum"])


def event_types() -> tuple[str, ...]:
    """Every "type" a server may publish, in the schema's order."""
    return tuple(_validators())


def validate_event(event: Any) -> None:
    """InvalidInput saying what is wrong unless `event` is one of the events the schema defines."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise InvalidInput(f'an event is an object with a string "type"; got {event!r:.200}')
    inner = event.get("event")
    if event["type"] == "job.training" and isinstance(inner, dict) and isinstance(inner.get("type"), str):
        _check(inner, _trainer_validators(), "trainer event")  # first: its own message is the precise one
    _check(event, _validators(), "event")


def _check(event: dict, validators: dict[str, Draft202012Validator], what: str) -> None:
    validator = validators.get(event["type"])
    if validator is None:
        raise InvalidInput(f"unknown {what} type {event['type']!r}; known: {', '.join(validators)}")
    error = best_match(validator.iter_errors(event))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the event"
        raise InvalidInput(f"{event['type']} {what}: {where}: {error.message}")
