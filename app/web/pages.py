"""The consumer verification page: what a phone shows after scanning a code, in Chinese or English.

Server-rendered HTML with inline CSS and no JavaScript: nothing is fetched from anywhere else, so the page
loads fast on a weak mobile connection and a cloned "verification" site cannot borrow our assets. Every value
comes from ``Verification.as_json()``, the same projection the JSON answer uses, so the page can never show
more than the public contract allows (no commercial detail, no record for a bad signature or an unknown code).
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from app.domain.errors import DomainError
from app.services.verification import Verification
from app.web.i18n import HTML_LANG, LANGUAGE_NAMES, LANGUAGES, VERDICT_TONE, Catalogue
from app.web.passport_view import passport_context

DEFAULT_LANGUAGE = "en"


def choose_language(accept_language: str | None, lang_param: str | None) -> str:
    """``?lang=`` wins; then the client's most preferred language whose primary subtag we speak.

    werkzeug parses the header, but its ``best_match`` prefers an exact tag match over quality, so
    ``zh-CN,en`` (both q=1, as some phones send) would pick English; matching primary subtags here keeps the
    client's order, and ``zh-CN``, ``zh-Hans``, ``zh-TW`` all read Chinese.
    """
    if lang_param is not None:
        wanted = lang_param.strip().lower()
        if wanted in LANGUAGES:
            return wanted
    if not accept_language:
        return DEFAULT_LANGUAGE
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for tag, quality in parse_accept_header(accept_language, LanguageAccept):
        primary = tag.replace("_", "-").split("-", 1)[0].lower()
        if primary in LANGUAGES and quality > best_quality:  # strict: ties keep the client's first choice
            best, best_quality = primary, quality
    return best


@functools.cache
def environment() -> Environment:
    """The one Jinja environment of every server-rendered page (consumer and regulator)."""
    return Environment(
        loader=PackageLoader("app.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def render_verification(
    result: Verification | None,
    error: DomainError | None,
    lang: str,
    path: str,
    passport: dict[str, Any] | None = None,
    sales: dict[str, Any] | None = None,
) -> str:
    """The page for one scan: ``result`` when the code was read, else ``error``; the unit's ``passport`` if any;
    ``sales`` (how often the code was sold) for a scan of anything (``/cn/``, ``/v1/scan``).

    ``path`` is the URL as requested (raw path and query), used for the language switch links.
    """
    t = Catalogue(lang)
    page: dict[str, Any] = {
        "t": t,
        "lang": t.lang,
        "html_lang": HTML_LANG[t.lang],
        "languages": language_links(path, t.lang),
    }
    if result is not None:
        page.update(_verification(result, t))
        page["passport"] = passport_context(passport, t)
        page["sales"] = _sales(sales, t) if sales is not None else None
        return environment().get_template("verification.html").render(page)
    if error is None:
        raise ValueError("render_verification needs a result or an error")
    page.update(_error(error, t))
    return environment().get_template("error.html").render(page)


def _sales(sales: dict[str, Any], t: Catalogue) -> str:
    """The sale count as the national insurance app says it ("sold once"); more than once is a warning."""
    count = int(sales["count"])
    if count == 0:
        return t("sales.none")
    text = t.count("sales.count", count)
    if sales.get("first_at"):
        day = sales["first_at"][:10]
        text += " · " + t("sales.first", day=day, region=sales.get("region") or "—")
    return text


def language_links(url: str, current: str) -> list[dict[str, Any]]:
    """One link per language to the same URL, its query kept byte for byte except ``lang``."""
    path, _, query = url.partition("?")
    if not path.startswith("/") or path.startswith("//"):
        path = ""  # a query-only reference stays on this page; "//host" would leave the site
    kept = [part for part in query.split("&") if part and part.partition("=")[0] != "lang"]
    return [
        {
            "lang": lang,
            "name": LANGUAGE_NAMES[lang],
            "html_lang": HTML_LANG[lang],
            "href": f"{path}?{'&'.join([*kept, f'lang={lang}'])}",
            "current": lang == current,
        }
        for lang in LANGUAGES
    ]


def _verification(result: Verification, t: Catalogue) -> dict[str, Any]:
    data = result.as_json()
    verdict: str = data["verdict"]
    reasons: list[str] = data["reasons"]
    tone = VERDICT_TONE.get(verdict, "bad")
    expires_on = date.fromisoformat(data["expires_on"]) if data["expires_on"] else None
    product = data["product"]
    return {
        "verdict": verdict,
        "tone": tone,
        "headline": t.verdict(verdict),
        "summary": t.summary(verdict),
        "signature": data["signature"],
        "signature_text": t.signature(data["signature"]),
        "reasons": [t.reason(code) for code in reasons],
        "todo": t({"ok": "todo.authentic", "warn": "todo.expired"}.get(tone, "todo.red")),
        "product": (
            {
                "name": product["name"],
                "category": t.category(product["category"]),
                "manufacturer": product["manufacturer"],
                "gtin": product["gtin"],
            }
            if product
            else None
        ),
        "lot": data["lot"],
        "expires_on": t.date(expires_on) if expires_on else None,
        "expired": verdict == "expired" or "expired" in reasons,
        "state": t.state(data["state"]) if data["state"] else None,
        "recall": _recall(data.get("recall"), t),
        "recall_instructions": (data.get("recall") or {}).get("instructions"),
        "journey": [_journey_step(step, t) for step in data.get("journey") or ()],
        "scanned": {"gtin": result.scan.gtin, "serial": result.scan.serial},
    }


def _recall(recall: Any, t: Catalogue) -> str | None:
    if not isinstance(recall, dict) or not recall.get("reason"):
        return None
    if recall.get("class"):
        return t("recall.text", klass=recall["class"], reason=recall["reason"])
    return t("recall.text_no_class", reason=recall["reason"])


def _journey_step(step: dict[str, Any], t: Catalogue) -> dict[str, str]:
    at = str(step.get("at") or "")
    try:
        when = t.date(datetime.fromisoformat(at).date())
    except ValueError:
        when = at
    region = step.get("region")
    return {
        "step": t.step(str(step.get("step") or "")),
        "at": when,
        "datetime": at,
        "region": t.region(str(region)) if region else "",
    }


def _error(error: DomainError, t: Catalogue) -> dict[str, Any]:
    if error.code == "rate_limited":
        seconds = error.extra.get("retry_after", 60)
        return {
            "tone": "warn",
            "headline": t("rate.headline"),
            "title": t("title.rate_limited"),
            "explanation": t("rate.explain", seconds=seconds),
            "detail": None,
            "technical": None,
            "todo": None,
        }
    return {
        "tone": "warn",
        "headline": t("error.headline"),
        "title": t("title.error"),
        "explanation": t.error_explanation(error.code),
        "detail": error.detail if t.lang == "en" else None,  # the parser's words are English: zh shows them folded
        "technical": error.detail if t.lang != "en" else None,
        "todo": t("error.todo"),
    }
