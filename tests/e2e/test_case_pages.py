"""The regulator's case pages in a real browser (headless Chromium, JavaScript off): the list and one case, in zh
and en, showing what the case names, who holds its units and who was told of each change; nothing is wider than a
412 px phone. Screenshots go to ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import Tab, assert_picture
from tests.helpers import GTIN, Org, ok, post, serial

DESKTOP, PHONE = (1280, 800), (412, 915)
DIST, PHARM, REGULATOR = (
    "East China Pharmaceutical Wholesale Co.",
    "上海市第一人民医院药房",
    "Shanghai Market Regulation Bureau",
)
# The elements sticking out past the right edge of the screen; what a box scrolls or clips (the visually hidden
# table heads of the phone layout) is not counted.
OVERFLOWING = """[...document.querySelectorAll('body *')].filter(e => {
  for (let p = e.parentElement; p; p = p.parentElement) {
    if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return false;
  }
  return e.getBoundingClientRect().right > window.innerWidth + 0.5;
}).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))"""


@pytest.fixture
def case_story(client, maker, batch, issue, make_org) -> dict[str, Any]:
    """Six units of LOT42: four at a wholesaler, two at a pharmacy. The pharmacy opens a case over one of its
    units; the maker opens one over the whole lot, which a regulator decides illegitimate."""
    codes = [c["uri"] for c in issue(batch["id"], 6)]
    dist = make_org("distributor", "drug_wholesale", name=DIST)
    pharm = make_org("retailer", "drug_retail", name=PHARM)
    regulator = make_org("regulator", name=REGULATOR)
    ok(post(client, maker, {"action": "ship", "codes": codes[:4], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": codes[:4]}))
    ok(post(client, dist, {"action": "ship", "codes": codes[2:4], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": codes[2:4]}))

    def open_case(org: Org, **body: Any) -> int:
        created = client.post("/v1/cases", json={"type": "suspect", "gtin": GTIN, **body}, headers=org.headers)
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    unit_case = open_case(pharm, serials=[serial(codes[2])], description="封口有二次粘合痕迹")
    lot_case = open_case(maker, lots=["LOT42"], description="counterfeit of LOT42 reported by a distributor abroad")
    decided = client.patch(
        f"/v1/cases/{lot_case}", json={"status": "illegitimate", "note": "wrong font on the carton"},
        headers=regulator.headers,
    )  # fmt: skip
    assert decided.status_code == 200, decided.text
    return {"unit_case": unit_case, "lot_case": lot_case, "regulator": regulator, "dist": dist, "pharm": pharm}


def sign_in(tab: Tab, server: str, regulator: Org) -> None:
    landed = tab.goto(f"{server}/regulator/cases")
    assert landed.startswith(f"{server}/regulator/login?next="), landed
    tab.type("#api_key", regulator.api_key)
    tab.click("button.primary", navigates=True)
    assert tab.url() == f"{server}/regulator/cases"


def test_case_pages_in_a_browser(chromium, server, client, maker, case_story):
    unit_case, lot_case, regulator = case_story["unit_case"], case_story["lot_case"], case_story["regulator"]
    dist, pharm = case_story["dist"], case_story["pharm"]
    tab = chromium.tab(*DESKTOP)
    shots: list[Path] = []
    sign_in(tab, server, regulator)

    listed = {row["data-case"] for row in tab.all_attributes("[data-case]")}
    assert listed == {str(unit_case), str(lot_case)}
    assert "Suspect-product cases" in tab.html() and "illegitimate" in tab.html()
    shots.append(tab.screenshot("regulator-cases-1280x800"))
    tab.goto(f"{server}/regulator/cases?lang=zh")
    assert "可疑产品案件" in tab.html() and {r["data-case"] for r in tab.all_attributes("[data-case]")} == listed
    shots.append(tab.screenshot("regulator-cases-zh-1280x800"))

    tab.goto(f"{server}/regulator/cases/{lot_case}?lang=en")
    assert "1 lot (6 units), 0 serials" in tab.text("#case-units")
    held = client.get(f"/v1/cases/{lot_case}", headers=regulator.headers).json()["holders"]
    names = {h["org"]["id"]: h["org"]["name"] for h in held}
    assert {h["org"]["id"]: h["units"] for h in held} == {maker.id: 2, dist.id: 2, pharm.id: 2}
    holders = tab.text("#holders")
    for org in (maker, dist, pharm):  # who holds the lot's units now, and how many
        assert f'<td data-label="Organisation">{names[org.id]}</td><td class="n" data-label="Units">2</td>' in holders
    changes = tab.text("#changes")
    assert [row["data-seq"] for row in tab.all_attributes("#changes tr[data-seq]")] == ["1", "2"]
    assert "wrong font on the carton" in changes and "log leaf" in changes
    told = [DIST, PHARM, REGULATOR]  # the opening told the holders and the regulator, the decision the maker too
    assert all(name in changes for name in told) and names[maker.id] in changes
    assert "notice only" in changes  # nobody has a webhook endpoint in this story
    shots.append(tab.screenshot("regulator-case-1280x800"))

    tab.goto(f"{server}/regulator/cases/{lot_case}?lang=zh")
    assert "案件" in tab.html() and "认定非法" in tab.html()
    assert "1 个批次（6 件），0 个序列号" in tab.text("#case-units")
    assert PHARM in tab.text("#holders")
    shots.append(tab.screenshot("regulator-case-zh-1280x800"))

    tab.goto(f"{server}/regulator/cases/{unit_case}?lang=en")
    assert "封口有二次粘合痕迹" in tab.html() and "0 lots (0 units), 1 serial" in tab.text("#case-units")

    tab.viewport(*PHONE)
    for name, path in (
        ("cases", "/regulator/cases?lang=en"),
        ("cases-zh", "/regulator/cases?lang=zh"),
        ("case", f"/regulator/cases/{lot_case}?lang=en"),
        ("case-zh", f"/regulator/cases/{lot_case}?lang=zh"),
    ):
        tab.goto(server + path)
        width, _ = tab.content_size()
        assert width <= PHONE[0], f"{path} is {width} px wide on a {PHONE[0]} px phone"
        assert tab.evaluate(OVERFLOWING) == [], path
        shots.append(tab.screenshot(f"regulator-{name}-412x915"))

    for shot in shots:
        assert_picture(shot)
