"""The passport as a consumer reads it: each visible field ready for the ``_passport.html`` partial.

What matters first on a phone: the maker and the origin, certificates with their validity, warnings, then how to
use, store and dispose of it; the rest (leaflet, composition, standards, links) after.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from app.web.i18n import Catalogue

# Certificates in the order a reader needs them: the valid ones first, an expired one last (and never as "valid":
# a status the page does not know shows as expired).
CERTIFICATE_ORDER = {"valid": 0, "not_yet_valid": 1, "expired": 2}


def _text(value: Any, lang: str) -> str | None:
    """A ``{"zh", "en"}`` text in the page's language (else the other one), a list of texts or named items (an
    ingredient list) joined, or plain text as it is."""
    if isinstance(value, Mapping):
        chosen = value.get(lang) or value.get("en") or value.get("zh")
        return str(chosen) if chosen else None
    if isinstance(value, list):
        items = (item.get("name") if isinstance(item, Mapping) else item for item in value)
        return ", ".join(str(item) for item in items if item) or None
    return str(value) if value else None


def _certificate(c: Mapping[str, Any], t: Catalogue) -> dict[str, Any]:
    """One certificate's line: its badge, and the one date that matters for its status (an expired certificate
    says when it ended, never "valid until")."""
    status = c.get("status") if c.get("status") in CERTIFICATE_ORDER else "expired"
    ends = sorted(str(c[k]) for k in ("valid_until", "revoked_on") if c.get(k))
    if status == "expired":
        when = t("passport.cert.ended", day=day(ends[0], t)) if ends else None
    elif status == "not_yet_valid" and c.get("valid_from"):
        when = t("passport.cert.from", day=day(c["valid_from"], t))
    else:
        when = t("passport.cert.until", day=day(ends[0], t)) if ends else None
    return {
        "scheme": c.get("scheme"),
        "number": c.get("number"),
        "issuer": c.get("issuer"),
        "status": status,
        "status_text": t(f"passport.cert.{status}"),
        "when": " · ".join(part for part in (when, c.get("issuer")) if part),
        "document": c.get("document"),
    }


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
    certificates = sorted(
        (_certificate(c, t) for c in passport.get("certifications") or () if isinstance(c, Mapping)),
        key=lambda c: CERTIFICATE_ORDER[c["status"]],
    )
    leaflet = passport.get("leaflet") if isinstance(passport.get("leaflet"), Mapping) else {}
    return {
        "maker": {"name": maker.get("name"), "uscc": maker.get("uscc"), "gln": maker.get("gln")} if maker else None,
        "facility": {"name": facility.get("name"), "address": _text(facility.get("address"), lang)}
        if facility
        else None,
        "origin": " · ".join(
            dict.fromkeys(t.region(str(v)) for v in (origin.get("country"), origin.get("region")) if v)
        )
        or None,
        "certificates": certificates,
        "warnings": _text(passport.get("warnings"), lang),
        "instructions": _text(passport.get("instructions"), lang),
        "storage": _text(passport.get("storage"), lang),
        "disposal": _text(passport.get("disposal"), lang),
        "leaflet": _text(leaflet, lang),
        "leaflet_url": leaflet.get("url") if str(leaflet.get("url", "")).startswith(("https://", "http://")) else None,
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
