"""The regulator console: recall list, a recall's trace with its custody tree, alert list and alert detail.

Server-rendered like the consumer page (inline CSS, no JavaScript, nothing fetched from elsewhere, Jinja2
autoescaping) and in the same two languages. The functions here only shape what the services answered into
what a template shows, including the geometry of the two inline SVG pictures (state bars, custody tree); who
may see what is decided by the services before anything reaches this module.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from app.services.alerts import STATUSES as ALERT_STATUSES
from app.services.events import SEVERITY as CUSTODY_ALERTS
from app.services.scans import SEVERITY as SCAN_ALERTS
from app.web.i18n import HTML_LANG, MESSAGES, Catalogue
from app.web.pages import environment, language_links

ALERT_TYPES = (*CUSTODY_ALERTS, *(kind for kind in SCAN_ALERTS if kind not in CUSTODY_ALERTS))
TRIAGE_STATUSES = ("investigating", "closed")
STATE_ORDER = (
    "issued",
    "in_supply_chain",
    "locked",
    "sold",
    "dispensed",
    "destroyed",
    "recycled",
    "stolen",
    "exported",
)
STATE_COLOUR = {
    "issued": "#667085",
    "in_supply_chain": "#1570ef",
    "locked": "#dc6803",
    "sold": "#b42318",
    "dispensed": "#c11574",
    "destroyed": "#067647",
    "recycled": "#079455",
    "stolen": "#7a271a",
    "exported": "#6938ef",
}

# Custody tree geometry, in CSS pixels: the picture is drawn at its natural size and scrolls sideways on a
# narrow screen, so the names stay readable instead of shrinking with the viewport.
NODE_W = 240
LINE_H = 18
COL_GAP, ROW_GAP, PAD = 104, 24, 16
BACK_DROP = 44  # how far above or below the boxes a backward (return) arrow bends
NAME_UNITS = 27  # width budget of one line of a name: a Latin letter counts 1, a CJK character 2


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
            t("reg.signed_in", name=page.viewer, role=_word(t, "reg.role", page.role or "")) if page.viewer else None
        ),
        "nav": [
            {"key": "recalls", "href": page.href("/regulator/recalls"), "text": t("reg.nav.recalls")},
            {"key": "alerts", "href": page.href("/regulator/alerts"), "text": t("reg.nav.alerts")},
        ],
        "logout_action": page.href("/regulator/logout"),
        **data,
    }
    return environment().get_template(f"regulator/{template}").render(context)


def _count(t: Catalogue, key: str, count: int, **values: object) -> str:
    """A sentence with a count in it: the ``_one`` variant for exactly one, where the language has it."""
    one = MESSAGES[t.lang].get(f"{key}_one")
    return (one if count == 1 and one else MESSAGES[t.lang][key]).format(count=count, **values)


def _word(t: Catalogue, family: str, code: str, fallback: str | None = None) -> str:
    """The catalogue's word for a machine code, or the code itself (a code added later still renders)."""
    found = MESSAGES[t.lang].get(f"{family}.{code}")
    if found is not None:
        return found
    return fallback if fallback is not None else code.replace("_", " ")


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
        parts.append(_count(t, "reg.scope.serials", len(serials)))
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
            "status_text": _word(t, "reg.recall_status", recall["status"]),
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
        "status_text": _word(t, "reg.recall_status", recall["status"]),
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
        "dispensed": sold["dispensed"],
        "recovered": sum(recovered.values()),
        "recovered_parts": [
            _word(t, "reg.recovered", action, f"{action} {{count}}").format(count=count)
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
        platforms=[{"org": org_name(row["platform"]), "units": row["units"]} for row in sold["online_by_platform"]],
        csv_href=f"/regulator/recalls/{recall['id']}/holders.csv",
        csv_api=f"/v1/recalls/{recall['id']}/holders.csv",
        back=page.href("/regulator/recalls"),
    )


def _org_name(t: Catalogue, org: dict[str, Any] | None) -> str:
    if not org:
        return t("reg.unknown")
    return str(org.get("name") or org.get("id"))


def state_bars(by_state: Mapping[str, int], t: Catalogue) -> dict[str, Any]:
    """One horizontal bar per state present, in life-cycle order; widths in percent of the total.

    The bars are drawn in an SVG with no viewBox, widths in %, so they stretch with the screen while the
    labels keep their pixel size (a scaled viewBox would shrink the text to nothing on a phone).
    """
    total = sum(by_state.values())
    order = [s for s in STATE_ORDER if by_state.get(s)] + sorted(s for s in by_state if s not in STATE_ORDER)
    rows = []
    for index, state in enumerate(order):
        count = by_state[state]
        share = 100 * count / total if total else 0
        rows.append(
            {
                "state": state,
                "label": _word(t, "reg.state", state),
                "count": count,
                "percent": f"{share:.0f}",
                "width": f"{max(share, 0.6):.2f}%",
                "colour": STATE_COLOUR.get(state, "#475467"),
                "y": index * 46,
            }
        )
    return {
        "rows": rows,
        "total": total,
        "total_text": _count(t, "reg.states.total", total),
        "height": max(len(rows) * 46, 1),
    }


def _units(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _fit(text: str, budget: int = NAME_UNITS) -> str:
    used = 0
    for index, char in enumerate(text):
        used += _units(char)
        if used > budget:
            return text[: max(index - 1, 1)].rstrip() + "…"
    return text


def _lines(name: str, budget: int = NAME_UNITS, most: int = 2) -> list[str]:
    """A name wrapped into at most ``most`` lines: at the last space that fits (a CJK name, which has no
    spaces, anywhere), the last line cut short with an ellipsis."""
    lines: list[str] = []
    rest = name.strip()
    while len(lines) < most - 1 and sum(_units(char) for char in rest) > budget:
        cut, used = 0, 0
        for index, char in enumerate(rest):
            used += _units(char)
            if used > budget:
                break
            cut = index + 1
        space = rest.rfind(" ", 0, cut + 1)
        if space > 0:
            cut = space
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    lines.append(_fit(rest, budget))
    return lines


def custody_tree(
    hops: Iterable[dict[str, Any]], manufacturer: dict[str, Any], on_hand: Mapping[str, int], t: Catalogue
) -> dict[str, Any]:
    """Lay the shipments out as a left-to-right tree: columns are breadth-first layers from the manufacturer.

    Nodes are organisations (the manufacturer, and everyone who shipped or was shipped units in scope), edges
    are shipments labelled with their units. An edge to the next column is a forward S-curve; an edge to the
    same or an earlier column (sent back up the chain) is dashed and bends around the boxes, above or below,
    whichever side has fewer boxes in the way.
    """
    names: dict[str, str] = {manufacturer["id"]: manufacturer["name"] or manufacturer["id"]}
    edges: list[tuple[str, str, int]] = []
    out: dict[str, list[str]] = defaultdict(list)
    for hop in hops:
        source, target = hop["from"], hop["to"]
        if not source or not target:
            continue
        for org in (source, target):
            names.setdefault(org["id"], org.get("name") or org["id"])
        edges.append((source["id"], target["id"], hop["units"]))
        out[source["id"]].append(target["id"])

    depth: dict[str, int] = {}
    layers: list[list[str]] = []
    for root in names:  # the manufacturer first; anyone not reached from it becomes a root of its own
        if root in depth:
            continue
        depth[root] = 0
        queue = deque([root])
        while queue:
            org = queue.popleft()
            column = depth[org]
            while len(layers) <= column:
                layers.append([])
            layers[column].append(org)
            for child in out[org]:
                if child not in depth:
                    depth[child] = column + 1
                    queue.append(child)
    row = {org: layer.index(org) for layer in layers for org in layer}

    def goes_over(source: str, target: str) -> bool:
        above = row[source] + row[target]
        below = len(layers[depth[source]]) - 1 - row[source] + len(layers[depth[target]]) - 1 - row[target]
        return above <= below

    backward = {(a, b): goes_over(a, b) for a, b, _ in edges if depth[b] <= depth[a]}
    top_room = BACK_DROP + 16 if any(backward.values()) else 0
    bottom_room = BACK_DROP + 16 if not all(backward.values()) else 0
    lines = {org: _lines(name) for org, name in names.items()}
    node_h = 22 + LINE_H * max(len(v) for v in lines.values()) + 16
    tallest = max(len(layer) for layer in layers)
    inner_h = tallest * node_h + (tallest - 1) * ROW_GAP
    width = 2 * PAD + len(layers) * NODE_W + (len(layers) - 1) * COL_GAP
    height = 2 * PAD + top_room + inner_h + bottom_room
    position: dict[str, tuple[int, int]] = {}
    nodes = []
    for column, layer in enumerate(layers):
        layer_h = len(layer) * node_h + (len(layer) - 1) * ROW_GAP
        top = PAD + top_room + (inner_h - layer_h) // 2
        for index, org in enumerate(layer):
            x, y = PAD + column * (NODE_W + COL_GAP), top + index * (node_h + ROW_GAP)
            position[org] = (x, y)
            nodes.append(
                {
                    "id": org,
                    "name": names[org],
                    "lines": [{"text": text, "y": y + 22 + i * LINE_H} for i, text in enumerate(lines[org])],
                    "x": x,
                    "y": y,
                    "w": NODE_W,
                    "h": node_h,
                    "root": org == manufacturer["id"],
                    "holding": t("reg.tree.on_hand", count=on_hand.get(org, 0)),
                    "holding_y": y + node_h - 12,
                }
            )

    peak = max((units for _, _, units in edges), default=1)
    drawn = []
    for source, target, units in edges:
        (sx, sy), (tx, ty) = position[source], position[target]
        back = (source, target) in backward
        start: tuple[float, float]
        end: tuple[float, float]
        c1: tuple[float, float]
        c2: tuple[float, float]
        if not back:
            start, end = (sx + NODE_W, sy + node_h / 2), (tx, ty + node_h / 2)
            bend = (end[0] - start[0]) / 2
            c1, c2 = (start[0] + bend, start[1]), (end[0] - bend, end[1])
        elif backward[(source, target)]:
            rim = PAD + top_room - BACK_DROP
            start, end = (sx + NODE_W / 2 + 12, sy), (tx + NODE_W / 2 - 12, ty)
            c1, c2 = (start[0], rim), (end[0], rim)
        else:
            rim = PAD + top_room + inner_h + BACK_DROP
            start, end = (sx + NODE_W / 2 + 12, sy + node_h), (tx + NODE_W / 2 - 12, ty + node_h)
            c1, c2 = (start[0], rim), (end[0], rim)
        # the point of the cubic Bézier at t = 1/2, where the label sits
        mid_x = (start[0] + 3 * c1[0] + 3 * c2[0] + end[0]) / 8
        mid_y = (start[1] + 3 * c1[1] + 3 * c2[1] + end[1]) / 8
        label = _count(t, "reg.tree.units", units)
        label_w = 8 * sum(_units(char) for char in label) + 14
        drawn.append(
            {
                "from": source,
                "to": target,
                "units": units,
                "path": (
                    f"M{start[0]:.1f},{start[1]:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} "
                    f"{end[0]:.1f},{end[1]:.1f}"
                ),
                "stroke": f"{1.5 + 4.5 * units / peak:.1f}",
                "back": back,
                "label": label,
                "label_x": round(mid_x - label_w / 2, 1),
                "label_y": round(mid_y - 11, 1),
                "label_w": label_w,
                "text_x": round(mid_x, 1),
                "text_y": round(mid_y + 4.5, 1),
                "title": f"{names[source]} → {names[target]}: {label}",
            }
        )
    return {"nodes": nodes, "edges": drawn, "width": width, "height": height, "shipped": bool(edges)}


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
            "type_text": _word(t, "reg.alert_type", alert["type"]),
            "severity": alert["severity"],
            "severity_text": _word(t, "reg.severity", alert["severity"]),
            "status": alert["status"],
            "status_text": _word(t, "reg.alert_status", alert["status"]),
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
        count_text=_count(t, "reg.alerts.count", len(rows)),
        filters=filters,
        errors=errors,
        types=[{"value": v, "text": _word(t, "reg.alert_type", v)} for v in ALERT_TYPES],
        statuses=[{"value": v, "text": _word(t, "reg.alert_status", v)} for v in ALERT_STATUSES],
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
    words = [_word(t, "reg.alert_explain", alert["type"], t("reg.alert_explain.fallback", type=alert["type"]))]
    actor = details.get("attempted_by") or alert["org"]
    if details.get("action"):
        unit = alert["unit"] or {}
        code = " / ".join(filter(None, (unit.get("gtin"), unit.get("serial")))) or details.get("code")
        words.append(
            t(
                "reg.alert.words",
                org=org_names.get(actor or "", actor or t("reg.unknown")),
                action=_word(t, "reg.action", str(details["action"])),
                code=code or t("reg.unknown"),
            )
        )
    if details.get("first_seen"):
        words.append(
            _count(
                t,
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
                channel=_word(t, "reg.channel", str(first.get("channel") or ""), t("reg.unknown")),
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
            "type_text": _word(t, "reg.alert_type", alert["type"]),
            "severity": alert["severity"],
            "severity_text": _word(t, "reg.severity", alert["severity"]),
            "status": alert["status"],
            "status_text": _word(t, "reg.alert_status", alert["status"]),
            "unit": alert["unit"],
            "product": product_name,
            "org": org_names.get(alert["org"] or "", alert["org"] or ""),
            "region": _region(t, alert["region"]),
            "created": _when(alert["created_at"]),
            "updated": _when(alert["updated_at"]),
            "root_cause": alert["root_cause"],
        },
        heading=t("reg.alert.heading", id=alert["id"], type=_word(t, "reg.alert_type", alert["type"])),
        words=words,
        reason=details.get("reason"),
        data=list(_flatten(details)),
        data_json=json.dumps(details, indent=2, ensure_ascii=False, sort_keys=True),
        can_triage=can_triage,
        triage_action=page.href(f"/regulator/alerts/{alert['id']}"),
        triage_statuses=[
            {
                "value": v,
                "text": _word(t, "reg.alert_status", v),
                "checked": v == form.get("status", alert["status"] if alert["status"] in TRIAGE_STATUSES else ""),
            }
            for v in TRIAGE_STATUSES
        ],
        root_cause_value=form.get("root_cause", alert["root_cause"] or ""),
        saved=saved,
        form_error=form_error,
        back=page.href("/regulator/alerts"),
    )


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
