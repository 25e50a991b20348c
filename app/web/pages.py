"""Placeholder: replaced by the verification page."""

from __future__ import annotations

from typing import Any


def choose_language(accept_language: str | None, lang_param: str | None) -> str:
    return "en"


def render_verification(result: Any, error: Any, lang: str, path: str) -> str:
    return f"<html><body>{result.verdict.verdict if result else error.detail}</body></html>"
