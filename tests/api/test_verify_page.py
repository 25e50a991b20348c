"""The consumer verification page: language choice, verdict words, what is (not) shown, escaping, errors."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from app.domain.errors import InvalidCode, RateLimited
from app.domain.identifiers import UnitCode, check_digit
from app.main import create_app
from app.services.runtime import Runtime
from app.web.pages import choose_language, render_verification
from tests.helpers import BASE_URL, Org, settings_for

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ZH = {**HTML, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


def local(uri: str) -> str:
    assert uri.startswith(BASE_URL)
    return uri[len(BASE_URL) :]


def switch_links(page: str) -> dict[str, str]:
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", page, re.S)
    assert nav is not None, "no language switch"
    return {lang: html.unescape(href) for href, lang in re.findall(r'<a href="([^"]*)" lang="([^"]*)"', nav.group(1))}


@pytest.fixture
def code(batch: dict[str, Any], issue: Callable[..., list[dict[str, Any]]]) -> dict[str, Any]:
    return issue(batch["id"], 1)[0]


def forged(uri: str) -> str:
    """The same code with the last two characters of its signature changed."""
    head, sig = uri.rsplit("8030=", 1)
    return f"{head}8030={sig[:-2]}{'BA' if sig.endswith('AA') else 'AA'}"


# --- language choice -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_language", "lang_param", "expected"),
    [
        (None, None, "en"),
        ("", None, "en"),
        ("zh-CN", None, "zh"),
        ("zh-Hans", None, "zh"),
        ("zh-TW", None, "zh"),
        ("zh-Hant-HK,zh;q=0.8", None, "zh"),
        ("zh-CN,en", None, "zh"),  # equal quality: the client's first choice, not werkzeug's exact-match bias
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", None, "en"),
        ("fr-FR,de;q=0.8,zh;q=0.5", None, "zh"),
        ("zh;q=0, en;q=0.1", None, "en"),
        ("fr-FR,fr;q=0.9", None, "en"),
        ("*", None, "en"),
        ("zh-CN", "en", "en"),
        ("en-GB", "zh", "zh"),
        ("zh-CN", "ZH", "zh"),
        ("zh-CN", "fr", "zh"),  # an unsupported ?lang= is ignored, not an error
    ],
)
def test_choose_language(accept_language: str | None, lang_param: str | None, expected: str) -> None:
    assert choose_language(accept_language, lang_param) == expected


# --- the page through the API ----------------------------------------------------------------------------


def test_authentic_page_in_english_by_default(client: TestClient, code: dict[str, Any]) -> None:
    response = client.get(local(code["uri"]), headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="en">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'class="verdict ok" data-verdict="authentic"' in page
    assert "<h1>Genuine product</h1>" in page
    assert "Digitally signed by the manufacturer (verified)" in page
    assert '<dd class="product-name">Paracetamol 500 mg</dd>' in page
    assert "<dd>Over-the-counter medicine</dd>" in page
    assert '<dd class="code">LOT42</dd>' in page
    expires = date.fromisoformat(code["expires_on"])
    assert f"<dd>{expires.day} {expires.strftime('%B')} {expires.year}</dd>" in page
    assert "<dd>Coded by the manufacturer, not yet shipped</dd>" in page
    assert "正品" not in page
    assert "Why</h2>" not in page  # an authentic code has no reasons to explain
    advice = page.index("the details above match the pack in your hand")
    assert page.index("product-name") < advice  # the details to compare come first
    # self-contained: no scripts, no stylesheets, fonts or images fetched from anywhere
    assert "<script" not in page
    assert "<link" not in page
    assert "http://" not in page and "https://" not in page


def test_accept_language_chinese(client: TestClient, code: dict[str, Any]) -> None:
    page = client.get(local(code["uri"]), headers=ZH).text
    assert '<html lang="zh-CN">' in page
    assert "<h1>正品，验证通过</h1>" in page
    assert "已由生产企业数字签名（验证通过）" in page
    assert "<dd>非处方药</dd>" in page
    expires = date.fromisoformat(code["expires_on"])
    assert f"<dd>{expires.year}年{expires.month}月{expires.day}日</dd>" in page
    assert "Genuine product" not in page


def test_lang_parameter_overrides_accept_language(client: TestClient, code: dict[str, Any]) -> None:
    page = client.get(local(code["uri"]) + "&lang=en", headers=ZH).text
    assert '<html lang="en">' in page
    assert "<h1>Genuine product</h1>" in page
    page = client.get(local(code["uri"]) + "&lang=zh", headers={**HTML, "Accept-Language": "en-US"}).text
    assert "<h1>正品，验证通过</h1>" in page


def test_language_switch_keeps_the_code(client: TestClient, code: dict[str, Any]) -> None:
    path = local(code["uri"])
    links = switch_links(client.get(path + "&lang=en", headers=HTML).text)
    assert set(links) == {"zh-CN"}  # the current language is not a link
    target = urlsplit(links["zh-CN"])
    expected = urlsplit(path)
    assert target.path == expected.path
    query = parse_qsl(target.query)
    assert query == [*parse_qsl(expected.query), ("lang", "zh")]  # lang=en replaced, 17 and 8030 kept
    assert dict(query)["8030"] == code["uri"].rsplit("8030=", 1)[1]
    followed = client.get(links["zh-CN"], headers={**HTML, "Accept-Language": "en"}).text
    assert "<h1>正品，验证通过</h1>" in followed  # still the valid signature: nothing was lost on the way
    assert set(switch_links(followed)) == {"en"}


def test_forged_signature_page(client: TestClient, code: dict[str, Any]) -> None:
    response = client.get(local(forged(code["uri"])), headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert 'class="verdict bad" data-verdict="invalid_signature"' in page
    assert "<h1>Not a genuine code</h1>" in page
    assert 'data-signature="invalid"' in page
    assert "Digital signature invalid: it was not made by the manufacturer" in page
    assert "The security signature does not match the code" in page
    assert "hotline 12315" in page
    # nothing from the record: no product, manufacturer, lot, expiry or state
    assert "Paracetamol" not in page
    assert "product-name" not in page
    for label in ("Manufacturer", "Lot", "Expiry date", "Status"):
        assert f"<dt>{label}</dt>" not in page
    assert "manufacturer 0" not in page

    zh = client.get(local(forged(code["uri"])), headers=ZH).text
    assert "<h1>非正品码</h1>" in zh
    assert "12315" in zh


def test_unknown_serial_page(client: TestClient, code: dict[str, Any]) -> None:
    path = f"/01/{code['gtin']}/10/{code['lot']}/21/ZZZZZZZZZZZZ"
    page = client.get(path, headers=HTML).text
    assert 'class="verdict bad" data-verdict="unknown"' in page
    assert "<h1>Unknown code</h1>" in page
    assert "This code is not one the manufacturer issued through Passport." in page
    assert "No product with this code was issued by the manufacturer through Passport." in page
    assert 'data-signature="absent"' in page
    assert "Paracetamol" not in page and "<dt>Expiry date</dt>" not in page
    assert '<dd class="code">ZZZZZZZZZZZZ</dd>' in page

    zh = client.get(path, headers=ZH).text
    assert "<h1>查无此码</h1>" in zh
    assert "此码不是生产企业通过本平台发放的编码。" in zh


def test_malformed_gtin_page(client: TestClient) -> None:
    gtin = "09506000134353"  # the check digit of 0950600013435 is 2
    response = client.get(f"/01/{gtin}/21/ABC123?17=281231", headers=HTML)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<h1>This code could not be read</h1>" in page
    assert f"GTIN {gtin} has check digit 3, expected 2" in page
    assert "not a valid 14-digit GS1 number" in page
    assert set(switch_links(page)) == {"zh-CN"}

    zh = client.get(f"/01/{gtin}/21/ABC123?17=281231", headers=ZH).text
    assert "<h1>无法识别此码</h1>" in zh
    assert f"GTIN {gtin} has check digit 3, expected 2" in zh
    assert "校验位" in zh


def test_json_is_still_json(client: TestClient, code: dict[str, Any]) -> None:
    response = client.get(local(code["uri"]), headers={"Accept": "application/json", "Accept-Language": "zh-CN"})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["verdict"] == "authentic"
    problem = client.get("/01/09506000134353/21/ABC123", headers={"Accept": "application/json"})
    assert problem.status_code == 422
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["code"] == "invalid_gtin"


def test_product_name_is_escaped(
    client: TestClient, make_org: Callable[..., Org], issue: Callable[..., list[dict[str, Any]]]
) -> None:
    maker = make_org("manufacturer", "drug_manufacturing", name='Smith & Sons "<b>Pharma</b>"')
    gtin = "0950600013437" + check_digit("0950600013437")
    name = "<script>alert('x')</script> Aspirin"
    response = client.post(
        "/v1/products", json={"gtin": gtin, "name": name, "category": "drug_otc"}, headers=maker.headers
    )
    assert response.status_code == 201, response.text
    today = date.today()
    response = client.post(
        "/v1/batches",
        json={
            "gtin": gtin,
            "lot": "X1",
            "manufactured_on": today.isoformat(),
            "expires_on": (today + timedelta(days=365)).isoformat(),
        },
        headers=maker.headers,
    )
    assert response.status_code == 201, response.text
    unit = issue(response.json()["id"], 1, maker)[0]
    page = client.get(local(unit["uri"]), headers=HTML).text
    assert "<h1>Genuine product</h1>" in page
    assert "<script" not in page
    assert '<dd class="product-name">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Aspirin</dd>' in page
    assert "<dd>Smith &amp; Sons &#34;&lt;b&gt;Pharma&lt;/b&gt;&#34;</dd>" in page


@pytest.fixture
def limited_client(database_url: str) -> Iterator[TestClient]:
    settings = settings_for(database_url, verify_rate_limit="2/minute")
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        runtime.close()


def test_rate_limited_page(limited_client: TestClient) -> None:
    path = "/01/09506000134352/21/ABC123"
    for _ in range(2):
        assert limited_client.get(path, headers=HTML).status_code == 200
    response = limited_client.get(path, headers=HTML)
    assert response.status_code == 429
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 60
    assert f"Too many checks came from your network. Try again in {seconds} seconds." in response.text
    zh = limited_client.get(path, headers=ZH).text
    assert "您所在网络的查询次数过多" in zh


# --- rendering details that the API cannot produce yet ---------------------------------------------------


@dataclass
class FakeResult:
    """Stands in for a Verification: the page reads only ``scan`` and ``as_json()``."""

    verdict: str
    reasons: list[str]
    journey: list[dict[str, str]]

    scan = UnitCode("09506000134352", "SERIAL1", "LOT42", "281231", None)

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "signature": "absent",
            "state": "sold",
            "product": {
                "gtin": self.scan.gtin,
                "name": "Paracetamol",
                "category": "drug_otc",
                "manufacturer": "M",
            },
            "lot": "LOT42",
            "expires_on": "2028-12-31",
            "recall": None,
            "reasons": self.reasons,
            "journey": self.journey,
        }


def render(result: FakeResult, lang: str = "en") -> str:
    return render_verification(result, None, lang, "/01/09506000134352/21/SERIAL1")  # type: ignore[arg-type]


def test_journey_is_rendered_in_order() -> None:
    journey = [
        {"step": "commissioned", "at": "2026-01-05T02:00:00Z", "region": "CN-31"},
        {"step": "shipped", "at": "2026-01-09T08:30:00Z", "region": "CN-32"},
        {"step": "teleported", "at": "2026-02-01T00:00:00Z", "region": "US-CA"},
    ]
    page = render(FakeResult("authentic", [], journey))
    assert '<h2 id="journey">Journey</h2>' in page
    steps = re.findall(r"<li><strong>(.*?)</strong><span class=\"when\"><time[^>]*>(.*?)</time>(.*?)</span>", page)
    assert steps == [
        ("Produced and coded", "5 January 2026", " · Shanghai"),
        ("Shipped", "9 January 2026", " · Jiangsu"),
        ("teleported", "1 February 2026", " · US-CA"),
    ]
    zh = render(FakeResult("authentic", [], journey), "zh")
    assert "<strong>生产赋码</strong>" in zh and "2026年1月5日" in zh and "上海" in zh
    assert '<h2 id="journey">' not in render(FakeResult("authentic", [], []))


def test_expired_is_amber_and_reasons_have_a_fallback() -> None:
    page = render(FakeResult("expired", ["expired"], []))
    assert 'class="verdict warn" data-verdict="expired"' in page
    assert "<h1>Genuine, but expired</h1>" in page
    assert "<li>The expiry date has passed.</li>" in page
    assert '<span class="tag">expired</span>' in page

    page = render(FakeResult("suspect", ["lot_mismatch", "cloned_in_three_cities"], []))
    assert 'class="verdict bad" data-verdict="suspect"' in page
    assert "<li>The lot number in the code differs from the manufacturer&#39;s record for this pack.</li>" in page
    assert "<li>A further check did not pass (reason code: cloned_in_three_cities).</li>" in page

    page = render(FakeResult("quarantined_by_martians", [], []), "zh")
    assert 'class="verdict bad"' in page and "<h1>无法确认真伪</h1>" in page


def test_error_page_without_a_database() -> None:
    page = render_verification(
        None,
        InvalidCode("the URI path ends with '/': remove the trailing slash"),
        "en",
        "/01/09506000134352/21/X/?lang=zh&8030=abc",
    )
    assert "the URI path ends with &#39;/&#39;: remove the trailing slash" in page
    assert switch_links(page) == {"zh-CN": "/01/09506000134352/21/X/?8030=abc&lang=zh"}
    page = render_verification(None, RateLimited("slow down", retry_after=17), "zh", "//evil.example/01/x?a=1")
    assert "请在 17 秒后重试" in page
    assert switch_links(page) == {"en": "?a=1&lang=en"}  # never a link off the site
