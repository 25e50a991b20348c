"""The regulator console: recall list, a recall's trace with its custody tree, alert list and alert detail.

Server-rendered like the consumer page (inline CSS, no JavaScript, nothing fetched from elsewhere, Jinja2
autoescaping) and in the same two languages. The functions here only shape what the services answered into
what a template shows (the geometry of the two inline SVG pictures is in app/web/svg.py); who
may see what is decided by the services before anything reaches this module.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from app.domain.alerts import ALERT_STATUSES, ALERT_TYPES, TRIAGE_STATUSES
from app.web.i18n import HTML_LANG, Catalogue
from app.web.pages import environment, language_links
from app.web.svg import custody_tree, state_bars


@dataclass(frozen=True, slots=True)
class Page:
    """What every console page needs besides its data: the language, the URL, who is looking."""

    lang: str
    url: str  # path and query as requested, for the language switch
    explicit_lang: bool = False  # ?lang= was given, so links inside the console keep it
    viewer: str | None = None
    role: str | None = None

    def href(self, path: str, **query: object) -> str:
        params = [(key, str(value)) for key, value in query.items() if value not in (None, "")]
        if self.explicit_lang:
            params.append(("lang", self.lang))
        return f"{path}?{urlencode(params)}" if params else path


def _render(template: str, page: Page, title: str, section: str, **data: Any) -> str:
    t = Catalogue(page.lang)
    context = {
        "t": t,
        "page": page,
        "lang": t.lang,
        "html_lang": HTML_LANG[t.lang],
        "languages": language_links(page.url, t.lang),
        "title": title,
        "section": section,
        "viewer": (
            t("reg.signed_in", name=page.viewer, role=t.word("reg.role", page.role or "")) if page.viewer else None
        ),
        "nav": [
            {"key": "recalls", "href": page.href("/regulator/recalls"), "text": t("reg.nav.recalls")},
            {"key": "alerts", "href": page.href("/regulator/alerts"), "text": t("reg.nav.alerts")},
            {"key": "cases", "href": page.href("/regulator/cases"), "text": t("reg.nav.cases")},
            *(
                [{"key": "licences", "href": page.href("/regulator/licences"), "text": t("reg.nav.licences")}]
                if page.role == "regulator"
                else []
            ),
        ],
        "logout_action": page.href("/regulator/logout"),
        **data,
    }
    return environment().get_template(f"regulator/{template}").render(context)


def _when(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _scope(t: Catalogue, lots: list[str], serials: list[str]) -> str:
    parts = []
    if lots:
        parts.append(t("reg.scope.lots", lots=", ".join(lots)))
    if serials:
        parts.append(t.count("reg.scope.serials", len(serials)))
    return "; ".join(parts) or t("reg.scope.all")


# --- sign-in and errors -------------------------------------------------------------------------------------


def render_login(page: Page, *, next_path: str, message: str | None = None, tone: str = "bad") -> str:
    t = Catalogue(page.lang)
    return _render(
        "login.html",
        page,
        t("reg.login.title"),
        "login",
        action=page.href("/regulator/login"),
        next_path=next_path,
        message=message,
        tone=tone,
    )


def render_error(page: Page, *, status: int, detail: str | None = None, message_key: str | None = None) -> str:
    t = Catalogue(page.lang)
    key = message_key or {403: "reg.error.forbidden", 404: "reg.error.not_found"}.get(status, "reg.error.generic")
    return _render("error.html", page, t("reg.error.title"), "", status=status, message=t(key), detail=detail)


# --- recalls ------------------------------------------------------------------------------------------------


def render_recalls(page: Page, recalls: list[dict[str, Any]], product_names: Mapping[str, str]) -> str:
    t = Catalogue(page.lang)
    rows = [
        {
            "id": recall["id"],
            "href": page.href(f"/regulator/recalls/{recall['id']}"),
            "gtin": recall["gtin"],
            "product": product_names.get(recall["gtin"], ""),
            "klass": recall["class"],
            "class_text": t("reg.class", klass=recall["class"]),
            "reason": recall["reason"],
            "scope": _scope(t, recall["lots"], recall["serials"]),
            "status": recall["status"],
            "status_text": t.word("reg.recall_status", recall["status"]),
            "created": _when(recall["created_at"]),
            "created_iso": recall["created_at"],
        }
        for recall in recalls
    ]
    return _render("recalls.html", page, t("reg.recalls.title"), "recalls", rows=rows)


def render_trace(page: Page, trace: dict[str, Any], product: dict[str, Any]) -> str:
    t = Catalogue(page.lang)
    recall = trace["recall"]
    manufacturer = product["manufacturer"]
    on_hand = {row["org"]["id"]: row["units"] for row in trace["holders"]}
    sold = trace["sold"]
    recovered: dict[str, int] = trace["recovered_since_recall"]
    org_name = functools.partial(_org_name, t)
    summary = {
        "product": product["name"],
        "gtin": recall["gtin"],
        "manufacturer": manufacturer["name"] or manufacturer["id"],
        "scope": _scope(t, recall["lots"], recall["serials"]),
        "serials": recall["serials"],
        "klass": recall["class"],
        "class_text": t("reg.class", klass=recall["class"]),
        "reason": recall["reason"],
        "instructions": recall["instructions"],
        "status": recall["status"],
        "status_text": t.word("reg.recall_status", recall["status"]),
        "created": _when(recall["created_at"]),
        "completed": _when(recall["completed_at"]),
    }
    figures = {
        "total": trace["units_total"],
        "holders_units": sum(on_hand.values()),
        "holders_count": len(on_hand),
        "in_transit": sum(row["units"] for row in trace["in_transit"]),
        "sold_offline": sold["offline"],
        "sold_online": sold["online"],
        "online_orders": t("reg.online_orders.value", **trace["online_orders"]),
        "online_orders_total": trace["online_orders"]["total"],
        "online_orders_acknowledged": trace["online_orders"]["acknowledged"],
        "dispensed": sold["dispensed"],
        "recovered": sum(recovered.values()),
        "recovered_parts": [
            t.word("reg.recovered", action, f"{action} {{count}}").format(count=count)
            for action, count in sorted(recovered.items())
        ],
    }
    return _render(
        "trace.html",
        page,
        t("reg.trace.title", id=recall["id"]),
        "recalls",
        recall_id=recall["id"],
        summary=summary,
        figures=figures,
        bars=state_bars(trace["by_state"], t),
        tree=custody_tree(trace["hops"], manufacturer, on_hand, t),
        tree_title=t("reg.tree.title", id=recall["id"]),
        hops=[
            {"from": org_name(row["from"]), "to": org_name(row["to"]), "units": row["units"]} for row in trace["hops"]
        ],
        holders=[{"org": org_name(row["org"]), "units": row["units"]} for row in trace["holders"]],
        in_transit=[
            {"from": org_name(row["from"]), "to": org_name(row["to"]), "units": row["units"]}
            for row in trace["in_transit"]
        ],
        platforms=_platforms(sold["online_by_platform"], trace["online_orders_by_platform"], org_name),
        csv_href=f"/regulator/recalls/{recall['id']}/holders.csv",
        csv_api=f"/v1/recalls/{recall['id']}/holders.csv",
        back=page.href("/regulator/recalls"),
    )


def _platforms(
    sales: list[dict[str, Any]], orders: list[dict[str, Any]], org_name: Callable[[dict[str, Any] | None], str]
) -> list[dict[str, Any]]:
    """One row per platform: units sold online through it, and the orders relayed to it and acknowledged."""
    relayed = {row["platform"]["id"]: row for row in orders}
    rows = []
    for row in sales:
        found = relayed.pop(row["platform"]["id"] if row["platform"] else None, None)
        rows.append({"org": org_name(row["platform"]), "units": row["units"], "orders": found})
    rows += [{"org": org_name(row["platform"]), "units": 0, "orders": row} for row in relayed.values()]
    return rows


def _org_name(t: Catalogue, org: dict[str, Any] | None) -> str:
    if not org:
        return t("reg.unknown")
    return str(org.get("name") or org.get("id"))


# --- alerts -------------------------------------------------------------------------------------------------


def render_alerts(
    page: Page,
    alerts: list[dict[str, Any]],
    org_names: Mapping[str, str],
    *,
    filters: Mapping[str, str],
    errors: list[str],
    older_href: str | None,
    newest_href: str | None,
) -> str:
    t = Catalogue(page.lang)
    rows = [
        {
            "id": alert["id"],
            "href": page.href(f"/regulator/alerts/{alert['id']}"),
            "created": _when(alert["created_at"]),
            "created_iso": alert["created_at"],
            "type": alert["type"],
            "type_text": t.word("reg.alert_type", alert["type"]),
            "severity": alert["severity"],
            "severity_text": t.word("reg.severity", alert["severity"]),
            "status": alert["status"],
            "status_text": t.word("reg.alert_status", alert["status"]),
            "unit": alert["unit"],
            "org": org_names.get(alert["org"] or "", alert["org"] or ""),
            "region": _region(t, alert["region"]),
        }
        for alert in alerts
    ]
    return _render(
        "alerts.html",
        page,
        t("reg.alerts.title"),
        "alerts",
        rows=rows,
        count_text=t.count("reg.alerts.count", len(rows)),
        filters=filters,
        errors=errors,
        types=[{"value": v, "text": t.word("reg.alert_type", v)} for v in ALERT_TYPES],
        statuses=[{"value": v, "text": t.word("reg.alert_status", v)} for v in ALERT_STATUSES],
        action="/regulator/alerts",
        reset=page.href("/regulator/alerts"),
        older_href=older_href,
        newest_href=newest_href,
    )


def _region(t: Catalogue, region: str | None) -> str:
    if not region:
        return ""
    name = t.region(region)
    return region if name == region else f"{name} ({region})"


def render_alert(
    page: Page,
    alert: dict[str, Any],
    org_names: Mapping[str, str],
    *,
    product_name: str | None,
    can_triage: bool,
    saved: bool = False,
    form_error: str | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    t = Catalogue(page.lang)
    details: dict[str, Any] = alert["details"] if isinstance(alert["details"], dict) else {}
    words = [t.word("reg.alert_explain", alert["type"], t("reg.alert_explain.fallback", type=alert["type"]))]
    actor = details.get("attempted_by") or alert["org"]
    if details.get("action"):
        unit = alert["unit"] or {}
        code = " / ".join(filter(None, (unit.get("gtin"), unit.get("serial")))) or details.get("code")
        words.append(
            t(
                "reg.alert.words",
                org=org_names.get(actor or "", actor or t("reg.unknown")),
                action=t.word("reg.action", str(details["action"])),
                code=code or t("reg.unknown"),
            )
        )
    if details.get("first_seen"):
        words.append(
            t.count(
                "reg.alert.seen",
                int(details.get("count") or 1),
                first=_when(str(details["first_seen"])),
                last=_when(str(details.get("last_seen") or details["first_seen"])),
            )
        )
    first = details.get("first_sale")
    if isinstance(first, dict):
        words.append(
            t(
                "reg.alert.first_sale",
                at=_when(first.get("at")) + " UTC" if first.get("at") else t("reg.unknown"),
                channel=t.word("reg.channel", str(first.get("channel") or ""), t("reg.unknown")),
                region=_region(t, first.get("region")) or t("reg.unknown"),
            )
        )
    form = form or {}
    return _render(
        "alert.html",
        page,
        t("reg.alert.title", id=alert["id"]),
        "alerts",
        alert={
            "id": alert["id"],
            "type": alert["type"],
            "type_text": t.word("reg.alert_type", alert["type"]),
            "severity": alert["severity"],
            "severity_text": t.word("reg.severity", alert["severity"]),
            "status": alert["status"],
            "status_text": t.word("reg.alert_status", alert["status"]),
            "unit": alert["unit"],
            "product": product_name,
            "org": org_names.get(alert["org"] or "", alert["org"] or ""),
            "region": _region(t, alert["region"]),
            "created": _when(alert["created_at"]),
            "updated": _when(alert["updated_at"]),
            "root_cause": alert["root_cause"],
        },
        heading=t("reg.alert.heading", id=alert["id"], type=t.word("reg.alert_type", alert["type"])),
        words=words,
        reason=details.get("reason"),
        reason_text=_reason(t, details),
        data=list(_flatten(details)),
        data_json=json.dumps(details, indent=2, ensure_ascii=False, sort_keys=True),
        can_triage=can_triage,
        triage_action=page.href(f"/regulator/alerts/{alert['id']}"),
        triage_statuses=[
            {
                "value": v,
                "text": t.word("reg.alert_status", v),
                "checked": v == form.get("status", alert["status"] if alert["status"] in TRIAGE_STATUSES else ""),
            }
            for v in TRIAGE_STATUSES
        ],
        root_cause_value=form.get("root_cause", alert["root_cause"] or ""),
        saved=saved,
        form_error=form_error,
        back=page.href("/regulator/alerts"),
    )


def _reason(t: Catalogue, details: Mapping[str, Any]) -> str | None:
    """The recorded refusal in the page's language: English as recorded, else the catalogue's words for its code."""
    reason = details.get("reason")
    if not reason or t.lang == "en":
        return str(reason) if reason else None
    return t.word("reg.refusal", str(details.get("refusal") or ""), "") or None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for key in sorted(data):
        value = data[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, list | tuple):
            if all(isinstance(item, Mapping) for item in value) and value:
                for index, item in enumerate(value):
                    yield from _flatten(item, f"{name}.{index}.")
            else:
                yield name, ", ".join(str(item) for item in value)
        else:
            yield name, "" if value is None else str(value)


# --- licences -----------------------------------------------------------------------------------------------


def render_licences(page: Page, licences: list[dict[str, Any]], *, days: int) -> str:
    """Licences whose last day falls within ``days`` days: who holds them, which kind, and how long is left."""
    t = Catalogue(page.lang)
    rows = [
        {
            "id": lic["id"],
            "org": lic["org_name"],
            "role": t.word("reg.role", lic["org_role"]),
            "kind": t.word("reg.licence_kind", lic["kind"]),
            "number": lic["number"] or "",
            "valid_until": lic["valid_until"],
            "days_left": lic["days_left"],
            "left_text": t.count("reg.licences.days_left", lic["days_left"]),
        }
        for lic in licences
    ]
    return _render(
        "licences.html",
        page,
        t("reg.licences.title"),
        "licences",
        rows=rows,
        days=days,
        count_text=t.count("reg.licences.count", len(rows), days=days),
        action="/regulator/licences",
    )
