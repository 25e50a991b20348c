"""The pages a new user met in the first hour (issue 13): Chinese detail text, recall instructions on the consumer
page, and the chosen language kept through the console's sign-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import GTIN, Org, ok, post

SAME_SITE = {"Origin": "http://testserver", "Content-Type": "application/x-www-form-urlencoded"}
HTML = {"Accept": "text/html"}
INSTRUCTIONS = "Stop selling; return every pack to your wholesaler by 30 June."


def _recalled_sale_attempt(
    client: TestClient, maker: Org, make_org: Callable[..., Org], batch: dict[str, Any], issue: Callable[..., Any]
) -> tuple[str, Org]:
    code = issue(batch["id"], 1)[0]["uri"]
    pharm = make_org("retailer", "drug_retail", name="Corner Pharmacy")
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [code]}))
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "reason": "sterility not assured", "class": "I", "instructions": INSTRUCTIONS},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    assert post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}).status_code == 409
    return code, make_org("regulator", name="Market Regulator")


def test_the_consumer_page_of_a_recalled_unit_shows_the_instructions(
    client: TestClient, maker: Org, make_org: Callable[..., Org], batch: dict[str, Any], issue: Callable[..., Any]
) -> None:
    code, _ = _recalled_sale_attempt(client, maker, make_org, batch, issue)
    for lang, label in (("en", "What to do"), ("zh", "处理方式")):
        page = client.get(code.replace("https://passport.test", "") + f"&lang={lang}", headers=HTML).text
        assert f'<dd id="recall-instructions">{INSTRUCTIONS}</dd>' in page
        assert label in page


def test_the_chinese_error_page_explains_in_chinese(client: TestClient) -> None:
    page = client.get("/01/9506000134352/21/ABC?lang=zh", headers=HTML)
    assert page.status_code == 422
    assert '<p class="detail code" lang="en">' not in page.text  # no English sentence as the page's message
    assert "技术细节（英文）" in page.text and "exactly 14 digits" in page.text  # folded away, for a helpdesk
    english = client.get("/01/9506000134352/21/ABC?lang=en", headers=HTML).text
    assert '<p class="detail code" lang="en">' in english and "技术细节" not in english


def test_the_chinese_alert_page_gives_the_refusal_in_chinese(
    client: TestClient, maker: Org, make_org: Callable[..., Org], batch: dict[str, Any], issue: Callable[..., Any]
) -> None:
    _, regulator = _recalled_sale_attempt(client, maker, make_org, batch, issue)
    alert_id = client.get("/v1/alerts", headers=regulator.headers).json()["alerts"][0]["id"]
    cookie = {"Cookie": f"passport_console={regulator.api_key}"}
    zh = client.get(f"/regulator/alerts/{alert_id}?lang=zh", headers=cookie).text
    assert "系统记录的原因: <span>该产品在召回范围内，不能销售。</span>" in zh or "该产品在召回范围内，不能销售。" in zh
    assert "系统原始记录（英文）" in zh
    en = client.get(f"/regulator/alerts/{alert_id}?lang=en", headers=cookie).text
    assert "该产品" not in en and "As recorded (English)" not in en


def test_the_chosen_language_survives_sign_in(client: TestClient, make_org: Callable[..., Org]) -> None:
    regulator = make_org("regulator")
    signed_in = client.post(
        "/regulator/login?lang=zh",
        content=f"api_key={regulator.api_key}&next=/regulator/alerts",
        headers={**SAME_SITE, "Accept-Language": "en"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/regulator/alerts?lang=zh"
    page = client.get(signed_in.headers["location"], headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in page.text
    plain = client.post(
        "/regulator/login",
        content=f"api_key={regulator.api_key}&next=/regulator/alerts",
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert plain.headers["location"] == "/regulator/alerts"  # no choice made: the browser's language still rules
