"""JSON text received from outside (RFC 8259: UTF-8, no depth limit of its own), read with errors a person can act on.

A body that is not JSON is the client's mistake, never a crash: invalid UTF-8, a syntax error, a number too long
to convert and nesting deeper than ``MAX_DEPTH`` all become one ``InvalidInput`` (code ``invalid_json``) whose
detail says what is wrong and where.
"""

from __future__ import annotations

import json
from typing import Any

from app.domain.errors import InvalidInput

MAX_DEPTH = 100  # far beyond any document the service reads (EPCIS events nest about 6 deep)
CODE = "invalid_json"


def loads(raw: bytes | str) -> Any:
    """The value of a JSON text, or ``InvalidInput`` saying why there is none."""
    try:
        value = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (ValueError, RecursionError) as error:
        raise explain(error) from None
    if nesting(value) > MAX_DEPTH:
        raise too_deep()
    return value


def explain(error: ValueError | RecursionError) -> InvalidInput:
    """The client-facing error for what ``json.loads`` (or decoding its bytes) raised."""
    if isinstance(error, RecursionError):
        return too_deep()
    if isinstance(error, UnicodeDecodeError):
        byte = error.object[error.start : error.start + 1].hex()
        return InvalidInput(f"the body is not valid UTF-8 (byte 0x{byte} at position {error.start})", code=CODE)
    if isinstance(error, json.JSONDecodeError):
        return syntax_error(error.msg, error.doc, error.pos)
    return InvalidInput(f"the body is not valid JSON: {error}", code=CODE)


def syntax_error(message: str, document: str | None, position: int) -> InvalidInput:
    if not isinstance(document, str) or not 0 <= position <= len(document):
        return InvalidInput(f"the body is not valid JSON: {message} at position {position}", code=CODE)
    line = document.count("\n", 0, position) + 1
    column = position - document.rfind("\n", 0, position)
    return InvalidInput(f"the body is not valid JSON: {message} at line {line} column {column}", code=CODE)


def too_deep() -> InvalidInput:
    return InvalidInput(f"the body is not accepted: JSON nested deeper than {MAX_DEPTH} levels", code=CODE)


def nesting(value: Any) -> int:
    """How deep arrays and objects nest in a decoded value (a scalar is 0, at most ``MAX_DEPTH + 1`` is counted)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        container, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break  # deep enough to refuse: no need to walk the rest
        children = container.values() if isinstance(container, dict) else container
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest
