"""The regulator console's case pages: the list of cases and one case with its units, holders and notices.

Shapes what ``app.services.cases`` answered (who may see what is decided there) into the console's templates,
in the console's two languages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.domain.cases import ACTIVE
from app.web.i18n import Catalogue
from app.web.regulator import Page, _render

_ACTIVE = {status.value for status in ACTIVE}


def _when(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M") if iso else ""


def _scope(t: Catalogue, case: dict[str, Any]) -> str:
    return t("reg.case.scope", lots=", ".join(case["lots"]) or "—", serials=len(case["serials"]))


def render_cases(page: Page, cases: list[dict[str, Any]]) -> str:
    t = Catalogue(page.lang)
    rows = [
        {
            "id": case["id"],
            "href": page.href(f"/regulator/cases/{case['id']}"),
            "gtin": case["gtin"],
            "product": case["product"],
            "type_text": t.word("reg.case_type", case["type"]),
            "status": case["status"],
            "status_text": t.word("reg.case_status", case["status"]),
            "scope": _scope(t, case),
            "opened": _when(case["opened_at"]),
            "opened_iso": case["opened_at"],
        }
        for case in cases
    ]
    return _render("cases.html", page, t("reg.cases.title"), "cases", rows=rows)


def render_case(page: Page, case: dict[str, Any], *, locked: int | None = None) -> str:
    t = Catalogue(page.lang)
    decision = case["decision_notices"]
    seconds = decision["seconds_to_every_webhook"] if decision else None
    changes = [
        {
            "seq": change["seq"],
            "status_text": t.word("reg.case_status", change["status"]),
            "by": change["by"],
            "at": _when(change["at"]),
            "log_index": change["log_index"],
            "note": change["note"],
            "notified": [
                {
                    "org": notice["org"]["name"] or notice["org"]["id"],
                    "units": notice["units"],
                    "webhook": t.word("reg.case_webhook", notice["webhook"]["status"])
                    if notice["webhook"]
                    else t("reg.case.no_webhook"),
                }
                for notice in change["notified"]
            ],
        }
        for change in case["changes"]
    ]
    return _render(
        "case.html",
        page,
        t("reg.case.heading", id=case["id"]),
        "cases",
        case=case,
        back=page.href("/regulator/cases"),
        type_text=t.word("reg.case_type", case["type"]),
        status_text=t.word("reg.case_status", case["status"]),
        opened=_when(case["opened_at"]),
        decided=_when(case["decided_at"]),
        units=t(
            "reg.case.units",
            lots=t.count("reg.case.lots", case["units"]["lots"], in_lots=case["units"]["in_lots"]),
            serials=t.count("reg.case.serials", case["units"]["serials"]),
        ),
        holders=[{"org": h["org"]["name"] or h["org"]["id"], "units": h["units"]} for h in case["holders"]],
        decision_time=t("reg.case.seconds", seconds=f"{seconds:.1f}") if seconds is not None else None,
        changes=changes,
        quarantine=page.href(f"/regulator/cases/{case['id']}/quarantine") if case["status"] in _ACTIVE else None,
        locked=t.count("reg.case.locked", locked) if locked is not None else None,
    )
