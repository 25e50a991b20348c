"""The regulator console in a real browser: headless Chromium against a real uvicorn, JavaScript switched off.

The browser (``tests/e2e/browser.py``) signs in through the form, so the cookie, its SameSite=Strict and the Origin
check on POST forms are all exercised as in real use. Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import Tab, assert_picture
from tests.helpers import BASE_URL, GTIN, Org, ok, post

DESKTOP, PHONE = (1280, 800), (390, 844)


@pytest.fixture
def recall_story(client, maker, batch, issue, make_org) -> dict[str, Any]:
    """Twelve units of LOT42 spread over a distributor, a hospital, a pharmacy and an online pharmacy (one sold
    in the shop, one online, one sent back up the chain, one in transit), then recalled; the pharmacy then
    tries to sell a recalled unit."""
    codes = [c["uri"] for c in issue(batch["id"], 12)]
    dist = make_org("distributor", "drug_wholesale", name="East China Pharmaceutical Wholesale Co.")
    hospital = make_org("retailer", "medical_institution", name="上海市第一人民医院")
    pharm = make_org("retailer", "drug_retail", name="Corner Pharmacy")
    online = make_org("retailer", "drug_retail", "online_drug_sales", name="HealthNet Online Pharmacy")
    market = make_org("platform", name="MegaMall")
    ok(post(client, maker, {"action": "ship", "codes": codes[:8], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": codes[:8]}))
    ok(post(client, maker, {"action": "ship", "codes": codes[8:10], "to": hospital.id}))
    ok(post(client, hospital, {"action": "receive", "codes": codes[8:10]}))
    ok(post(client, dist, {"action": "ship", "codes": codes[:3], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": codes[:3]}))
    ok(post(client, dist, {"action": "ship", "codes": codes[3:5], "to": online.id}))
    ok(post(client, online, {"action": "receive", "codes": codes[3:5]}))
    ok(post(client, pharm, {"action": "sell", "codes": [codes[0]], "channel": "offline"}))
    ok(
        post(
            client,
            online,
            {"action": "sell", "codes": [codes[3]], "channel": "online", "platform": market.id, "order_ref": "A-1"},
        )
    )
    ok(post(client, pharm, {"action": "ship", "codes": [codes[1]], "to": dist.id}))  # sent back up the chain
    # A saleable return is taken back into stock after a positive verification in that context.
    returned = codes[1].replace(BASE_URL, "") + "&linkType=gs1:verificationService&context=dscsaSaleableReturn"
    assert client.get(returned, headers=dist.headers).json()["verified"] is True
    ok(post(client, dist, {"action": "receive", "codes": [codes[1]]}))
    ok(post(client, dist, {"action": "ship", "codes": [codes[5]], "to": pharm.id}))  # still in transit
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility not assured", "class": "I"},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    assert post(client, pharm, {"action": "sell", "codes": [codes[2]], "channel": "offline"}).status_code == 409
    regulator = make_org("regulator", name="Shanghai Market Regulation Bureau")
    trace = client.get(f"/v1/recalls/{recall.json()['id']}/trace", headers=regulator.headers).json()
    alert_id = client.get("/v1/alerts", headers=regulator.headers).json()["alerts"][0]["id"]
    return {"recall": recall.json()["id"], "alert": alert_id, "regulator": regulator, "trace": trace}


# --- the test -----------------------------------------------------------------------------------------------


def sign_in(tab: Tab, server: str, regulator: Org, shots: list[Path]) -> None:
    landed = tab.goto(f"{server}/regulator/recalls")
    assert landed.startswith(f"{server}/regulator/login?next="), landed
    shots.append(tab.screenshot("regulator-login-1280x800"))
    tab.type("#api_key", regulator.api_key)
    tab.click("button.primary", navigates=True)
    assert tab.url() == f"{server}/regulator/recalls"


def test_console_in_a_browser(chromium, server, client, recall_story):
    recall_id, alert_id, regulator = recall_story["recall"], recall_story["alert"], recall_story["regulator"]
    trace = recall_story["trace"]
    orgs_in_trace = {hop["from"]["id"] for hop in trace["hops"]} | {hop["to"]["id"] for hop in trace["hops"]}
    assert len(orgs_in_trace) == 5

    tab = chromium.tab(*DESKTOP)
    shots: list[Path] = []
    sign_in(tab, server, regulator, shots)
    assert f'data-recall="{recall_id}"' in tab.html()
    shots.append(tab.screenshot("regulator-recalls-1280x800"))

    tab.goto(f"{server}/regulator/recalls/{recall_id}")
    nodes = tab.all_attributes("#custody-tree g.node")
    assert sorted(node["data-org"] for node in nodes) == sorted(orgs_in_trace)  # one node per organisation
    edges = {(e["data-from"], e["data-to"]): int(e["data-units"]) for e in tab.all_attributes("#custody-tree g.edge")}
    assert edges == {(hop["from"]["id"], hop["to"]["id"]): hop["units"] for hop in trace["hops"]}
    states = {s["data-state"]: int(s["data-count"]) for s in tab.all_attributes("#state-bars g.state")}
    assert states == trace["by_state"] == {"issued": 2, "in_supply_chain": 8, "sold": 2}
    assert "12 units in scope" in tab.text("p[data-total]")
    shots.append(tab.screenshot("regulator-trace-1280x800"))
    tab.goto(f"{server}/regulator/recalls/{recall_id}?lang=zh")
    assert "召回范围内共 12 件" in tab.text("p[data-total]")
    shots.append(tab.screenshot("regulator-trace-zh-1280x800"))

    # triage through the form: the real browser's Origin passes the CSRF check
    tab.goto(f"{server}/regulator/alerts/{alert_id}")
    tab.click('input[name="status"][value="closed"]')
    tab.type("#root_cause", "Pharmacy staff missed the recall notice")
    tab.click("#triage button[type=submit]", navigates=True)
    assert tab.url() == f"{server}/regulator/alerts/{alert_id}?saved=1"
    assert 'data-status="closed"' in tab.text("#alert-status")
    stored = client.get(f"/v1/alerts/{alert_id}", headers=regulator.headers).json()
    assert (stored["status"], stored["root_cause"]) == ("closed", "Pharmacy staff missed the recall notice")
    shots.append(tab.screenshot("regulator-alert-1280x800"))
    tab.goto(f"{server}/regulator/alerts")
    shots.append(tab.screenshot("regulator-alerts-1280x800"))

    tab.viewport(*PHONE)
    for name, path in (
        ("recalls", "/regulator/recalls"),
        ("trace", f"/regulator/recalls/{recall_id}"),
        ("trace-zh", f"/regulator/recalls/{recall_id}?lang=zh"),
        ("alert", f"/regulator/alerts/{alert_id}"),
        ("alerts", "/regulator/alerts"),
    ):
        tab.goto(server + path)
        width, _ = tab.content_size()
        assert width <= PHONE[0], f"{path} is {width} px wide on a {PHONE[0]} px phone"
        shots.append(tab.screenshot(f"regulator-{name}-390x844"))

    for shot in shots:
        assert_picture(shot)
