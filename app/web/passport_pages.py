"""The page of a product- or lot-level scan, in the style of a unit's page, with the passport after the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.web.i18n import HTML_LANG, VERDICT_TONE, Catalogue
from app.web.pages import environment, language_links
from app.web.passport_view import day, passport_context

PRODUCT_TONE = {"registered": "ok", "expired": "warn", "unknown_lot": "warn"}


def render_product_scan(body: Mapping[str, Any], lang: str, path: str) -> str:
    """The page of a product- or lot-level scan (``body`` is its JSON answer)."""
    t = Catalogue(lang)
    verdict = str(body["verdict"])
    tone = PRODUCT_TONE.get(verdict, VERDICT_TONE.get(verdict, "bad"))
    product = body.get("product")
    recall = body.get("recall")
    page = {
        "t": t,
        "lang": t.lang,
        "html_lang": HTML_LANG[t.lang],
        "languages": language_links(path, t.lang),
        "verdict": verdict,
        "tone": tone,
        "headline": t(f"passport.verdict.{verdict}"),
        "summary": t(f"passport.summary.{verdict}"),
        "product": (
            {
                "name": product["name"],
                "category": t.category(product["category"]),
                "manufacturer": product["manufacturer"],
            }
            if product
            else None
        ),
        "scanned": body["scanned"],
        "lot": body.get("lot"),
        "expires_on": day(body.get("expires_on"), t),
        "recall": (
            {"reason": recall.get("reason"), "klass": recall.get("class"), "instructions": recall.get("instructions")}
            if isinstance(recall, Mapping)
            else None
        ),
        "recalled_lots": body.get("recalled_lots") or [],
        "passport": passport_context(body.get("passport"), t),
    }
    return environment().get_template("product.html").render(page)
