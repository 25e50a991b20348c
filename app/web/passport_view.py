"""The passport as a consumer reads it: each visible field ready for the ``_passport.html`` partial.

What matters first on a phone: the maker and the origin, certificates with their validity, warnings, then how to
use, store and dispose of it; the rest (leaflet, composition, standards, links) after.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from app.web.i18n import Catalogue


def _text(value: Any, lang: str) -> str | None:
    """A ``{"zh", "en"}`` text in the page's language (else the other one), or plain text as it is."""
    if isinstance(value, Mapping):
        chosen = value.get(lang) or value.get("en") or value.get("zh") or next(iter(value.values()), None)
        return str(chosen) if chosen else None
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or None
    return str(value) if value else None


def day(value: Any, t: Catalogue) -> str | None:
    try:
        return t.date(date.fromisoformat(str(value))) if value else None
    except ValueError:
        return str(value)


def passport_context(passport: Mapping[str, Any] | None, t: Catalogue) -> dict[str, Any] | None:
    """The passport's visible fields, ready for the ``_passport.html`` partial (None: no passport)."""
    if not passport:
        return None
    lang = t.lang
    maker = passport.get("manufacturer") if isinstance(passport.get("manufacturer"), Mapping) else {}
    origin = passport.get("origin") if isinstance(passport.get("origin"), Mapping) else {}
    facility = passport.get("facility") if isinstance(passport.get("facility"), Mapping) else {}
    certificates = [
        {
            "scheme": c.get("scheme"),
            "number": c.get("number"),
            "issuer": c.get("issuer"),
            "status": c.get("status", "valid"),
            "status_text": t(f"passport.cert.{c.get('status', 'valid')}"),
            "valid_until": day(c.get("valid_until"), t),
            "document": c.get("document"),
        }
        for c in passport.get("certifications") or ()
        if isinstance(c, Mapping)
    ]
    leaflet = passport.get("leaflet")
    return {
        "maker": {"name": maker.get("name"), "uscc": maker.get("uscc"), "gln": maker.get("gln")} if maker else None,
        "facility": {"name": facility.get("name"), "address": _text(facility.get("address"), lang)}
        if facility
        else None,
        "origin": ", ".join(str(v) for v in (origin.get("country"), origin.get("region")) if v) or None,
        "certificates": certificates,
        "warnings": _text(passport.get("warnings"), lang),
        "instructions": _text(passport.get("instructions"), lang),
        "storage": _text(passport.get("storage"), lang),
        "disposal": _text(passport.get("disposal"), lang),
        "leaflet": _text(leaflet.get("text") if isinstance(leaflet, Mapping) else leaflet, lang),
        "composition": _text(passport.get("composition"), lang),
        "standards": [
            {"code": s.get("code"), "title": _text(s.get("title"), lang)}
            for s in passport.get("standards") or ()
            if isinstance(s, Mapping)
        ],
        "test_reports": [r for r in passport.get("test_reports") or () if isinstance(r, Mapping)],
        "links": [
            {"href": link.get("href"), "title": link.get("title") or link.get("linkType")}
            for link in passport.get("links") or ()
            if isinstance(link, Mapping) and str(link.get("href", "")).startswith(("https://", "http://"))
        ],
        "tier": passport.get("tier", "public"),
    }
