"""The regulator console: sign-in, who sees what, the numbers on the trace page, alerts and their triage,
escaping, languages and the CSRF check on forms."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.routes_pages import COOKIE
from app.domain.alerts import AlertType
from app.web.i18n import MESSAGES
from tests.helpers import GTIN, Org, ok, post

SAME_SITE = {"Origin": "http://testserver"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def browse(client: TestClient, org: Org | None, path: str, **headers: str) -> Any:
    cookie = {"Cookie": f"{COOKIE}={org.api_key}"} if org else {}
    return client.get(path, headers={**cookie, **headers}, follow_redirects=False)


def submit(client: TestClient, org: Org | None, path: str, body: str, **headers: str) -> Any:
    cookie = {"Cookie": f"{COOKIE}={org.api_key}"} if org else {}
    return client.post(path, content=body, headers={**FORM, **cookie, **headers}, follow_redirects=False)


def attrs(page: str, selector_attr: str) -> dict[str, str]:
    """``data-<selector_attr>="x" data-count="n"`` pairs in the page."""
    return dict(re.findall(rf'data-{selector_attr}="([^"]+)" data-count="(\d+)"', page))


@dataclass
class Scenario:
    recall_id: int
    alert_id: int
    maker: Org
    dist: Org
    pharm: Org
    regulator: Org


@pytest.fixture
def scenario(client, maker, batch, issue, make_org) -> Scenario:
    """Six units: four shipped to a distributor, three on to a pharmacy (one still in transit), one sold;
    then LOT42 is recalled and the pharmacy tries to sell a recalled unit (an alert)."""
    codes = [c["uri"] for c in issue(batch["id"], 6)]
    dist = make_org("distributor", "drug_wholesale", name="East Wholesale")
    pharm = make_org("retailer", "drug_retail", name="Corner Pharmacy")
    ok(post(client, maker, {"action": "ship", "codes": codes[:4], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": codes[:4]}))
    ok(post(client, dist, {"action": "ship", "codes": codes[:2], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": codes[:2]}))
    ok(post(client, pharm, {"action": "sell", "codes": [codes[0]], "channel": "offline"}))
    ok(post(client, dist, {"action": "ship", "codes": [codes[2]], "to": pharm.id}))
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility not assured", "class": "I"},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    refused = post(client, pharm, {"action": "sell", "codes": [codes[1]], "channel": "offline"})
    assert refused.status_code == 409
    regulator = make_org("regulator", name="Market Regulator")
    listed = client.get("/v1/alerts", headers=regulator.headers).json()["alerts"]
    assert [a["type"] for a in listed] == ["recalled_sale_attempt"]
    return Scenario(recall.json()["id"], listed[0]["id"], maker, dist, pharm, regulator)


# --- sign-in ------------------------------------------------------------------------------------------------


def test_pages_redirect_to_sign_in(client):
    for path in ("/regulator/recalls", "/regulator/recalls/1", "/regulator/alerts", "/regulator/alerts/1"):
        response = browse(client, None, path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/regulator/login?next=%2Fregulator%2F")
    assert browse(client, None, "/regulator").headers["location"] == "/regulator/recalls"
    form = browse(client, None, "/regulator/login?next=/regulator/alerts")
    assert form.status_code == 200
    assert '<input id="api_key" name="api_key" type="password"' in form.text
    assert '<input type="hidden" name="next" value="/regulator/alerts">' in form.text
    # only console pages are followed after sign-in, never another site
    evil = browse(client, None, "/regulator/login?next=https://evil.example/")
    assert 'name="next" value="/regulator/recalls"' in evil.text


def test_login_flow(client, make_org):
    regulator = make_org("regulator")
    bad = submit(client, None, "/regulator/login", "api_key=pp_nope&next=/regulator/alerts", **SAME_SITE)
    assert bad.status_code == 401
    assert "This API key is unknown or has been revoked." in bad.text
    assert "set-cookie" not in bad.headers

    good = submit(client, None, "/regulator/login", f"api_key={regulator.api_key}&next=/regulator/alerts", **SAME_SITE)
    assert good.status_code == 303
    assert good.headers["location"] == "/regulator/alerts"
    cookie = good.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={regulator.api_key};")
    lowered = cookie.lower()
    for attribute in ("httponly", "samesite=strict", "path=/regulator", "secure"):  # the base URL is https
        assert attribute in lowered, cookie
    client.cookies.clear()

    page = browse(client, regulator, "/regulator/alerts")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text

    out = submit(client, regulator, "/regulator/logout", "", **SAME_SITE)
    assert out.status_code == 303 and out.headers["location"] == "/regulator/login?signed_out=1"
    assert out.headers["set-cookie"].startswith(f'{COOKIE}=""') and "max-age=0" in out.headers["set-cookie"].lower()


def test_sign_in_form_is_refused_from_another_site(client, make_org):
    regulator = make_org("regulator")
    for headers in ({}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/x"}):
        response = submit(client, None, "/regulator/login", f"api_key={regulator.api_key}", **headers)
        assert response.status_code == 403, headers
        assert "set-cookie" not in response.headers
    via_referer = submit(
        client, None, "/regulator/login", f"api_key={regulator.api_key}", Referer="http://testserver/regulator/login"
    )
    assert via_referer.status_code == 303  # a browser that leaves Origin out still names us in Referer
    client.cookies.clear()


def test_revoked_or_garbage_cookie_goes_back_to_sign_in(client):
    response = client.get("/regulator/recalls", headers={"Cookie": f"{COOKIE}=pp_revoked"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/regulator/login")
    assert response.headers["set-cookie"].startswith(f'{COOKIE}=""')  # the dead key is forgotten


def test_other_roles_are_refused(client, make_org):
    retailer = make_org("retailer", "drug_retail", name="Some Shop")
    response = submit(client, None, "/regulator/login", f"api_key={retailer.api_key}", **SAME_SITE)
    assert response.status_code == 403
    assert "Some Shop is registered as a retailer" in response.text
    assert "set-cookie" not in response.headers
    zh = submit(
        client, None, "/regulator/login", f"api_key={retailer.api_key}", **SAME_SITE, **{"Accept-Language": "zh-CN"}
    )
    assert "Some Shop 的登记身份为零售企业" in zh.text
    # a key put in the cookie by hand does not get further
    for path in ("/regulator/recalls", "/regulator/alerts"):
        assert browse(client, retailer, path).status_code == 403


# --- recalls and the trace ----------------------------------------------------------------------------------


def test_recall_list_and_trace_numbers(client, scenario):
    page = browse(client, scenario.regulator, "/regulator/recalls").text
    row = re.search(rf'<tr data-recall="{scenario.recall_id}">(.*?)</tr>', page, re.S)
    assert row is not None
    for text in ("Paracetamol 500 mg", GTIN, "Class I", "sterility not assured", "lots LOT42", "open"):
        assert text in row.group(1), text
    assert f'href="/regulator/recalls/{scenario.recall_id}"' in row.group(1)

    response = browse(client, scenario.regulator, f"/regulator/recalls/{scenario.recall_id}")
    assert response.status_code == 200
    trace = response.text
    assert 'data-total="6"' in trace and "6 units in scope" in trace
    assert attrs(trace, "state") == {"issued": "2", "in_supply_chain": "3", "sold": "1"}
    figures = dict(re.findall(r'data-figure="(\w+)"><dt>[^<]*</dt><dd class="num">([^<]*)', trace))
    assert figures == {
        "holders": "4",
        "holders_count": "3",
        "in_transit": "1",
        "sold_offline": "1",
        "sold_online": "0",
        "dispensed": "0",
        "recovered": "0",
    }
    tree = re.search(r'<svg id="custody-tree".*?</svg>', trace, re.S)
    assert tree is not None
    nodes = re.findall(r'<g class="node(?: root)?" data-org="([^"]+)">', tree.group(0))
    assert sorted(nodes) == sorted([scenario.maker.id, scenario.dist.id, scenario.pharm.id])
    assert nodes[0] == scenario.maker.id  # the manufacturer is the root, drawn first (leftmost)
    edges = re.findall(r'data-from="([^"]+)" data-to="([^"]+)" data-units="(\d+)"', tree.group(0))
    assert sorted(edges) == sorted(
        [(scenario.maker.id, scenario.dist.id, "4"), (scenario.dist.id, scenario.pharm.id, "3")]
    )
    x = {org: int(v) for org, v in re.findall(r'data-org="([^"]+)">\s*<title>[^<]*</title>\s*<rect x="(\d+)"', trace)}
    assert x[scenario.maker.id] < x[scenario.dist.id] < x[scenario.pharm.id]  # BFS layers, left to right
    assert "East Wholesale" in trace and "Corner Pharmacy" in trace
    assert f'href="/regulator/recalls/{scenario.recall_id}/holders.csv"' in trace
    assert f"/v1/recalls/{scenario.recall_id}/holders.csv" in trace

    csv_text = browse(client, scenario.regulator, f"/regulator/recalls/{scenario.recall_id}/holders.csv")
    assert csv_text.headers["content-type"].startswith("text/csv")
    assert "East Wholesale" in csv_text.text and "in transit from" in csv_text.text


def test_manufacturers_see_only_their_own_recalls(client, scenario, make_org):
    assert browse(client, scenario.maker, f"/regulator/recalls/{scenario.recall_id}").status_code == 200
    rival = make_org("manufacturer", "drug_manufacturing")
    listing = browse(client, rival, "/regulator/recalls")
    assert listing.status_code == 200
    assert "data-recall=" not in listing.text and "No recalls yet." in listing.text
    refused = browse(client, rival, f"/regulator/recalls/{scenario.recall_id}")
    assert refused.status_code == 403
    assert "sterility" not in refused.text and "East Wholesale" not in refused.text
    assert browse(client, rival, f"/regulator/recalls/{scenario.recall_id}/holders.csv").status_code == 403
    assert browse(client, rival, f"/regulator/alerts/{scenario.alert_id}").status_code == 404
    assert browse(client, scenario.regulator, "/regulator/recalls/999999").status_code == 404


def test_names_are_escaped(client, make_org, issue):
    evil = make_org("manufacturer", "drug_manufacturing", name="<b>Evil</b> Pharma & Co")
    gtin = "04006381333931"
    made = client.post(
        "/v1/products",
        json={"gtin": gtin, "name": "<script>alert('x')</script>Pills", "category": "drug_otc"},
        headers=evil.headers,
    )
    assert made.status_code == 201, made.text
    today = date.today()
    batch = client.post(
        "/v1/batches",
        json={
            "gtin": gtin,
            "lot": "L1",
            "manufactured_on": (today - timedelta(days=1)).isoformat(),
            "expires_on": (today + timedelta(days=300)).isoformat(),
        },
        headers=evil.headers,
    ).json()
    codes = [c["uri"] for c in issue(batch["id"], 2, evil)]
    dist = make_org("distributor", "drug_wholesale", name='<img src=x onerror="alert(1)">')
    ok(post(client, evil, {"action": "ship", "codes": codes, "to": dist.id}))
    recall = client.post(
        "/v1/recalls",
        json={"gtin": gtin, "lots": ["L1"], "reason": "<i>bad</i> seal", "class": "II"},
        headers=evil.headers,
    ).json()
    regulator = make_org("regulator")
    for path in ("/regulator/recalls", f"/regulator/recalls/{recall['id']}"):
        page = browse(client, regulator, path).text
        assert "<script" not in page and "<img" not in page and "<i>bad" not in page and "<b>Evil" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;Pills" in page
        assert "&lt;i&gt;bad&lt;/i&gt; seal" in page
    trace = browse(client, regulator, f"/regulator/recalls/{recall['id']}").text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in trace  # in the SVG tree and the tables
    assert "&lt;b&gt;Evil&lt;/b&gt; Pharma &amp; Co" in trace


def test_chinese_and_english(client, scenario):
    zh = browse(client, scenario.regulator, f"/regulator/recalls/{scenario.recall_id}", **{"Accept-Language": "zh-CN"})
    page = zh.text
    assert '<html lang="zh-CN">' in page
    assert "召回范围内共 6 件" in page and "流向图" in page and "尚未发货" in page
    assert "持有单位数" in page
    assert "units in scope" not in page
    assert zh.headers["vary"].startswith("Accept-Language")
    switch = re.search(r'<ul class="switch">(.*?)</ul>', page, re.S)
    assert switch is not None
    assert f'href="/regulator/recalls/{scenario.recall_id}?lang=en"' in switch.group(1)

    en = browse(client, scenario.regulator, "/regulator/recalls?lang=en", **{"Accept-Language": "zh-CN"}).text
    assert '<html lang="en">' in en and "Recalls" in en and "召回" not in en.split('<ul class="switch">')[0]
    # a chosen language follows the links inside the console
    assert f'href="/regulator/recalls/{scenario.recall_id}?lang=en"' in en
    assert 'href="/regulator/alerts?lang=en"' in en


def test_catalogue_has_every_console_key_in_both_languages():
    english = {key for key in MESSAGES["en"] if key.startswith("reg.")}
    chinese = {key for key in MESSAGES["zh"] if key.startswith("reg.")}
    assert english == chinese


# --- alerts -------------------------------------------------------------------------------------------------


def test_alert_list_filters(client, scenario):
    page = browse(client, scenario.regulator, "/regulator/alerts").text
    assert re.findall(r'<tr data-alert="(\d+)"', page) == [str(scenario.alert_id)]
    assert "Sale of a recalled unit" in page and "Corner Pharmacy" in page
    cases = {
        "type=recalled_sale_attempt": 1,
        "type=repeat_sale": 0,
        "status=open": 1,
        "status=closed": 0,
        f"since={date.today().isoformat()}&until={date.today().isoformat()}": 1,
        f"until={(date.today() - timedelta(days=2)).isoformat()}": 0,
    }
    for query, count in cases.items():
        listed = browse(client, scenario.regulator, f"/regulator/alerts?{query}")
        assert listed.status_code == 200, query
        assert len(re.findall(r"<tr data-alert=", listed.text)) == count, query
    selected = browse(client, scenario.regulator, "/regulator/alerts?type=repeat_sale").text
    assert '<option value="repeat_sale" selected>' in selected
    bad = browse(client, scenario.regulator, "/regulator/alerts?since=2025-13-40&type=<x>")
    assert bad.status_code == 422
    assert "2025-13-40 is not a date" in bad.text and "&lt;x&gt; is not one of the choices" in bad.text
    assert browse(client, scenario.maker, "/regulator/alerts").text.count("<tr data-alert=") == 1


def test_alert_detail_in_words_and_data(client, scenario):
    page = browse(client, scenario.regulator, f"/regulator/alerts/{scenario.alert_id}").text
    assert "Someone tried to sell a unit covered by a recall." in page
    assert re.search(r"Corner Pharmacy tried to sell unit 09506000134352 / \w+, and Passport refused it.", page)
    assert '<th class="code" scope="row">refusal</th><td class="code">recalled</td>' in page
    assert "<details><summary>Details as JSON</summary><pre>" in page
    assert '<form method="post" action="/regulator/alerts/' in page
    zh = browse(client, scenario.regulator, f"/regulator/alerts/{scenario.alert_id}?lang=zh").text
    assert "有人试图销售召回范围内的产品。" in zh and "Corner Pharmacy 试图销售产品 09506000134352 / " in zh
    # a manufacturer sees its product's alert but cannot triage it
    own = browse(client, scenario.maker, f"/regulator/alerts/{scenario.alert_id}").text
    assert "Only a regulator can change the status of an alert." in own and 'id="triage"' not in own


def alert_state(client: TestClient, scenario: Scenario) -> tuple[str, str | None]:
    body = client.get(f"/v1/alerts/{scenario.alert_id}", headers=scenario.regulator.headers).json()
    return body["status"], body["root_cause"]


def test_alert_triage_form(client, scenario):
    path = f"/regulator/alerts/{scenario.alert_id}"
    no_cause = submit(client, scenario.regulator, path, "status=closed&root_cause=", **SAME_SITE)
    assert no_cause.status_code == 422
    assert "Closing an alert needs its root cause." in no_cause.text
    assert alert_state(client, scenario) == ("open", None)

    bad_status = submit(client, scenario.regulator, path, "status=open", **SAME_SITE)
    assert bad_status.status_code == 422 and "Choose investigating or closed." in bad_status.text

    investigating = submit(client, scenario.regulator, path, "status=investigating&root_cause=", **SAME_SITE)
    assert investigating.status_code == 303 and investigating.headers["location"] == f"{path}?saved=1"
    assert alert_state(client, scenario) == ("investigating", None)

    closed = submit(
        client, scenario.regulator, path + "?lang=zh", "status=closed&root_cause=till+misconfigured", **SAME_SITE
    )
    assert closed.status_code == 303 and closed.headers["location"] == f"{path}?saved=1&lang=zh"
    assert alert_state(client, scenario) == ("closed", "till misconfigured")
    shown = browse(client, scenario.regulator, closed.headers["location"]).text
    assert "已保存。" in shown and 'data-status="closed"' in shown and "till misconfigured" in shown

    refused = submit(client, scenario.maker, path, "status=investigating", **SAME_SITE)
    assert refused.status_code == 403
    assert alert_state(client, scenario) == ("closed", "till misconfigured")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/page"}],
    ids=["no-origin", "foreign-origin", "null-origin", "foreign-referer"],
)
def test_alert_triage_needs_a_same_site_origin(client, scenario, headers):
    path = f"/regulator/alerts/{scenario.alert_id}"
    response = submit(client, scenario.regulator, path, "status=closed&root_cause=forged", **headers)
    assert response.status_code == 403
    assert "was not sent from this site" in html.unescape(response.text)
    assert alert_state(client, scenario) == ("open", None)
    accepted = submit(client, scenario.regulator, path, "status=investigating", Referer=f"http://testserver{path}")
    assert accepted.status_code == 303


def test_every_alert_type_has_a_name_and_an_explanation_in_both_languages():
    for lang in ("en", "zh"):
        for kind in AlertType:
            assert f"reg.alert_type.{kind.value}" in MESSAGES[lang], (lang, kind)
            assert f"reg.alert_explain.{kind.value}" in MESSAGES[lang], (lang, kind)
