"""The geometry of the regulator console's two inline SVG pictures: the state bars and the custody tree.

Pure layout: the functions take what the services answered and return numbers and strings a template draws
(app/web/templates/regulator/trace.html); nothing here renders HTML or reads the database.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from typing import Any

from app.web.i18n import Catalogue

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
                "label": t.word("reg.state", state),
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
        "total_text": t.count("reg.states.total", total),
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
        label = t.count("reg.tree.units", units)
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
