"""The page of a package scan (a box or case code an import registered), in the style of a unit's page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.web.i18n import HTML_LANG, VERDICT_TONE, Catalogue
from app.web.messages.packages import WORDS
from app.web.pages import environment, language_links
from app.web.passport_view import day


def render_package_scan(body: Mapping[str, Any], lang: str, path: str) -> str:
    """``body`` is the package scan's JSON answer (``app/services/cn_packages.PackageScan.as_json``)."""
    t = Catalogue(lang)
    words = WORDS.get(t.lang, WORDS["en"])
    verdict = str(body["verdict"])
    tone = VERDICT_TONE.get(verdict, "bad")
    product = body.get("product")
    recall = body.get("recall")
    package = body["package"]
    page = {
        "t": t,
        "lang": t.lang,
        "html_lang": HTML_LANG[t.lang],
        "languages": language_links(path, t.lang),
        "verdict": verdict,
        "tone": tone,
        "headline": t.verdict(verdict),
        "summary": words.get(f"summary.{verdict}") or t.summary(verdict),
        "words": words,
        "signature": body["signature"],
        "reasons": [t.reason(code) for code in body.get("reasons", [])],
        "todo": t({"ok": "todo.authentic", "warn": "todo.expired"}.get(tone, "todo.red")),
        "package": {
            "code": package["code"],
            "level": words["level"].format(level=package["level"]),
            "units": (words["units_one"] if package["units"] == 1 else words["units"]).format(count=package["units"]),
        },
        "state": t.state(body["state"]),
        "product": (
            {
                "name": product["name"],
                "category": t.category(product["category"]),
                "manufacturer": product["manufacturer"],
            }
            if product
            else None
        ),
        "lot": body.get("lot"),
        "expires_on": day(body.get("expires_on"), t),
        "recall": (
            {"reason": recall.get("reason"), "klass": recall.get("class"), "instructions": recall.get("instructions")}
            if isinstance(recall, Mapping)
            else None
        ),
    }
    return environment().get_template("package.html").render(page)
