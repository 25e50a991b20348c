"""GS1's EPCIS 2.0 JSON Schema (``schema/EPCIS-JSON-Schema.json``, see ``schema/SOURCE.txt``): is an event valid,
and if not, where and why.

A valid event (the usual case) costs one call of the schema compiled to Python by fastjsonschema, for an object of
a type the schema names, compiled for that type (:func:`_typed_validators`); an invalid one is re-checked by the
whole compiled schema and then by jsonschema's reference validator, whose verdict decides and which names the
most relevant error.
"""

from __future__ import annotations

import copy
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


@cache
def _typed_validators() -> dict[str, Callable[[Any], Any]]:
    """Per ``type`` the schema names at its root (the five event types, the two documents): the same schema
    compiled for an object of that very type, about twice as fast again. For such an object the root's
    ``if``/``then`` chain comes to one ``then`` (every other ``if`` fails, the catch-all's ``not`` too), so the
    validator checks that ``then`` alone, with the definitions made quicker without changing what they accept
    (:func:`_quicker`). Empty if the schema's root is not of that shape."""
    schema = _schema()
    root = schema.get("allOf")
    if set(schema) != {"$id", "$schema", "type", "required", "properties", "allOf", "definitions"} or not root:
        return {}
    if (
        schema["type"] != "object"
        or schema["required"] != ["type"]
        or schema["properties"] != {"type": {"type": "string"}}
    ):
        return {}
    *typed, catch_all = root
    if set(catch_all) != {"if", "then"} or set(catch_all["if"]) != {"not"}:
        return {}
    others = catch_all["if"]["not"]
    if others.get("type") != "object" or set(others) != {"type", "properties"} or set(others["properties"]) != {"type"}:
        return {}
    listed = set(others["properties"]["type"].get("enum", []))
    thens: dict[str, Any] = {}
    for branch in typed:
        test = branch.get("if")
        names = test.get("properties", {}).get("type", {}).get("enum") if isinstance(test, dict) else None
        if set(branch) != {"if", "then"} or test != {"type": "object", "properties": {"type": {"enum": names}}}:
            return {}
        if not isinstance(names, list) or len(names) != 1 or names[0] not in listed or names[0] in thens:
            return {}
        thens[names[0]] = branch["then"]
    if set(thens) != listed:
        return {}
    definitions = _quicker(copy.deepcopy(schema["definitions"]))
    return {
        name: fastjsonschema.compile(
            {"$id": schema["$id"], "$schema": schema["$schema"], "definitions": definitions, **then}
        )
        for name, then in thens.items()
    }


def _quicker(node: Any) -> Any:
    """The definitions, accepting exactly what they accepted, in a shape fastjsonschema checks faster (it tries
    an ``anyOf``'s branches in order, each failure an exception): an ``anyOf`` lists its bare enumerations
    first (a bizStep's CBV word before the URI patterns); and an event's ``propertyNames``, "one of the common
    names or a vocabulary URI, or one of this event's names", is "one of the common or this event's names, or
    a vocabulary URI" (one enumeration, one pattern)."""
    if isinstance(node, list):
        return [_quicker(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _quicker(value) for key, value in node.items()}
    names = node.get("propertyNames")
    if isinstance(names, dict) and set(names) == {"anyOf"} and len(names["anyOf"]) == 2:
        own, common = sorted(names["anyOf"], key=lambda branch: "$ref" in branch)
        shared = _schema()["definitions"].get("common-event-properties")
        if (
            common == {"$ref": "#/definitions/common-event-properties"}
            and isinstance(shared, dict)
            and set(shared) == {"anyOf"}
            and len(shared["anyOf"]) == 2
            and _bare_enum(shared["anyOf"][0])
            and _bare_enum(own)
        ):
            enum = [*shared["anyOf"][0]["enum"], *own["enum"]]
            node["propertyNames"] = {"anyOf": [{"type": "string", "enum": enum}, shared["anyOf"][1]]}
    if isinstance(node.get("anyOf"), list):
        node["anyOf"] = sorted(node["anyOf"], key=lambda branch: not _bare_enum(branch))  # stable
    return node


def _bare_enum(branch: Any) -> bool:
    return isinstance(branch, dict) and set(branch) == {"type", "enum"} and branch["type"] == "string"


def schema_problem(instance: Any) -> str | None:
    """None if ``instance`` is valid against GS1's EPCIS 2.0 schema, else ``$.path: what is wrong``."""
    kind = instance.get("type") if isinstance(instance, dict) else None
    typed = _typed_validators().get(kind) if isinstance(kind, str) else None
    if typed is not None:
        try:
            typed(instance)
            return None
        except fastjsonschema.JsonSchemaException:
            pass  # the whole schema decides, as below
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
