"""The page of a sale receipt (``GET /r/{token}`` in a browser), in the style of a unit's page: valid or not, what
the sale stands as now, and the sale's place in the public log. Every value comes from the JSON answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.domain.cn_code import looks_like_cn_code
from app.web.i18n import HTML_LANG, Catalogue
from app.web.messages.receipts import WORDS
from app.web.pages import environment, language_links

TONE = {"sold_once": "ok", "dispensed_from_open_pack": "ok", "returned": "warn"}


def _moment(value: str, t: Catalogue) -> str:
    at = datetime.fromisoformat(value).astimezone(UTC)
    return f"{t.date(at.date())} {at:%H:%M} UTC"


def render_receipt(body: Mapping[str, Any], lang: str, path: str) -> str:
    """``body``: the receipt check's JSON answer (``app/services/receipts.ReceiptCheck.as_json``)."""
    t = Catalogue(lang)
    words = WORDS.get(t.lang, WORDS["en"])
    state = body.get("state") or {}
    standing = str(state.get("standing")) if body["valid"] else "invalid"
    receipt = body.get("receipt")
    proof = body.get("proof")
    page: dict[str, Any] = {
        "t": t,
        "lang": t.lang,
        "html_lang": HTML_LANG[t.lang],
        "languages": language_links(path, t.lang),
        "words": words,
        "standing": standing,
        "tone": TONE.get(standing, "bad"),
        "headline": words[f"headline.{standing}"],
        "summary": words[f"summary.{standing}"].format(sales=state.get("sales"), number=state.get("sale_number")),
        "reason": words.get(f"reason.{body.get('reason')}") if not body["valid"] else None,
        "sale": None,
        "proof": None,
    }
    if receipt is not None:
        serial = receipt["serial"]
        page["sale"] = {
            "product": state.get("product"),
            "code": serial if looks_like_cn_code(serial) else f"(01){receipt['gtin']}(21){serial}",
            "sold_at": _moment(receipt["sold_at"], t),
            "region": t.region(receipt["region"]) if receipt["region"] else words["region.unknown"],
            "channel": words[f"channel.{receipt['channel']}"],
            "action": words[f"action.{receipt['action']}"],
            "sales": state.get("sales"),
            "unit_status": t.state(str(state["unit_status"])) if state.get("unit_status") else None,
        }
    if proof is not None:
        good = proof["included"] and proof["leaf_matches"]
        text = words["proof.ok" if good else "proof.bad"].format(index=proof["leaf_index"], size=proof["tree_size"])
        page["proof"] = {"ok": good, "text": text, "root": proof["root_hash"], "checkpoint": proof["checkpoint"]}
    elif receipt is not None and standing != "not_found":
        page["proof"] = {"ok": True, "text": words["proof.pending"], "root": None, "checkpoint": None}
    return environment().get_template("receipt.html").render(page)
