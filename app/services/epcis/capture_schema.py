"""GS1's EPCIS 2.0 JSON Schema (``schema/EPCIS-JSON-Schema.json``, see ``schema/SOURCE.txt``): is an event valid,
and if not, where and why.

A valid event (the usual case) costs one call of the schema compiled to Python by fastjsonschema; an invalid one
is re-checked by jsonschema's reference validator, whose verdict decides and which names the most relevant error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_FILE = "schema/EPCIS-JSON-Schema.json"  # package data of app.services.epcis


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("app.services.epcis").joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def schema_validator() -> Draft7Validator:
    """The reference validator: its verdict decides, and it names the most relevant error."""
    return Draft7Validator(_schema(), format_checker=FormatChecker())


@cache
def _fast_validator() -> Callable[[Any], Any]:
    """The same schema compiled to Python (fastjsonschema), about 20 times faster; a valid event (the usual
    case) costs only this, an invalid one is re-checked and explained by :func:`schema_validator`."""
    return fastjsonschema.compile(_schema())


def schema_problem(instance: Any) -> str | None:
    """None if ``instance`` is valid against GS1's EPCIS 2.0 schema, else ``$.path: what is wrong``."""
    try:
        _fast_validator()(instance)
        return None
    except fastjsonschema.JsonSchemaException:
        leaves = list(_leaves(schema_validator().iter_errors(instance)))
        if not leaves:
            return None
        deepest = max(len(e.absolute_path) for e in leaves)
        error = best_match(e for e in leaves if len(e.absolute_path) == deepest)
        return _schema_message(error) if error is not None else None


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """The innermost errors: the schema's if/then and anyOf wrap the one that says what is actually wrong."""
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def _schema_message(error: ValidationError) -> str:
    """``$.epcList[0]: 'x' is not a 'uri'``: where, then what (jsonschema's most relevant error)."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) < 300 else error.message[:300] + "…"
    return f"${path}: {message}"
