"""The consumer's passport page on a phone, in a real browser: headless Chromium at 412 px, in Chinese and English.

A drug with a full passport (five certificates, one expired and one not yet valid, and a long leaflet) is scanned at
the product, the lot and the unit level. What a person needs first comes first (verdict, product, maker, origin,
certificates with their validity, warnings, disposal; the leaflet after them, folded), nothing is wider than the
screen, and an expired certificate never looks valid. Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.browser import Tab, assert_picture
from tests.helpers import GTIN

WIDTH, HEIGHT = 412, 915  # a common Android phone, in CSS pixels
TODAY = date.today()
MAKER = "Shanghai Example Pharmaceutical Co., Ltd."
LEAFLET_ZH = "\n".join(
    [
        "【药品名称】通用名称：对乙酰氨基酚片 英文名称：Paracetamol Tablets",
        "【成份】本品主要成份为对乙酰氨基酚，化学名称为N-(4-羟基苯基)乙酰胺。",
        *(
            f"【注意事项】{i}. 对本品过敏者禁用，过敏体质者慎用；不能同时服用其他含有解热镇痛药的药品。"
            for i in range(60)
        ),
        "【生产企业】https://example.com/leaflets/paracetamol/zh/full-text-of-the-package-insert-version-2026-01.html",
    ]
)
LEAFLET_EN = "\n".join(
    [
        "PARACETAMOL 500 MG TABLETS. Read all of this leaflet carefully before you start taking this medicine.",
        *(
            f"{i}. Do not take more than 8 tablets in 24 hours; hepatotoxicity risk increases with dose."
            for i in range(60)
        ),
        "Full text: https://example.com/leaflets/paracetamol/en/full-text-of-the-package-insert-version-2026-01.html",
    ]
)


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


PASSPORT: dict[str, Any] = {
    "manufacturer": {"name": MAKER, "uscc": "91310000MA1K4CXY5B"},
    "origin": {"country": "CN", "region": "CN-31"},
    "certifications": [
        {"scheme": "GMP", "number": "SH20250117", "issuer": "Shanghai Medical Products Administration",
         "valid_from": "2025-01-17", "valid_until": days(1500)},
        {"scheme": "ISO 9001", "number": "EXPIRED-00112233445566778899", "issuer": "China Quality Certification Centre",
         "valid_from": "2018-01-01", "valid_until": days(-30)},
        {"scheme": "ISO 14001", "number": "E-2026-7", "issuer": "CQC", "valid_from": days(60), "valid_until": days(1200)},
        {"scheme": "药品注册证书", "number": "国药准字H31020000", "issuer": "国家药品监督管理局",
         "valid_from": "2021-05-01", "valid_until": days(400)},
        {"scheme": "Halal", "number": "HC-99-000000000000000000000000000042", "issuer": "China Islamic Association",
         "valid_from": "2022-01-01", "valid_until": days(90)},
    ],
    "warnings": {"zh": "对本品过敏者禁用。服用本品期间不得饮酒。", "en": "Do not use if allergic to paracetamol. No alcohol."},
    "instructions": {"zh": "口服。成人一次1片，若持续发热，每4～6小时重复一次。", "en": "Oral. Adults: 1 tablet every 4 to 6 hours."},
    "storage": {"zh": "遮光，密封保存。", "en": "Keep sealed, away from light."},
    "disposal": {"zh": "过期药品请交回药店回收点。", "en": "Return expired medicine to a pharmacy take-back point."},
    "leaflet": {"zh": LEAFLET_ZH, "en": LEAFLET_EN, "url": "https://example.com/leaflets/paracetamol-zh.html"},
    "composition": [{"name": "Paracetamol", "share_percent": 83.3}, "Maize starch", "Magnesium stearate"],
    "standards": [{"code": "ChP 2020", "title": "中华人民共和国药典 Pharmacopoeia of the PRC"}],
    "links": [{"linkType": "gs1:epil", "href": "https://example.com/leaflets/paracetamol-zh.pdf", "title": "说明书 PDF"}],
}  # fmt: skip

# What a person needs first, in this order (selectors of the page)
FIRST = ("[data-verdict]", ".product-name", "dd.maker", "dd.origin", "ul.certs", "p.warnings", "p.disposal")
EXPIRED_TEXT = {"en": "Expired", "zh": "已过期"}
VALID_TEXT = {"en": "Valid", "zh": "有效"}  # the badge of a valid certificate (and "valid until" / "有效期至")
SHANGHAI = {"en": "Shanghai", "zh": "上海"}


@pytest.fixture
def drug(client, maker, batch, issue) -> dict[str, str]:
    response = client.put(f"/v1/products/{GTIN}/passport", json=PASSPORT, headers=maker.headers)
    assert response.status_code == 201, response.text
    unit = issue(batch["id"], 1)[0]["uri"]
    return {
        "product": f"/01/{GTIN}",
        "lot": f"/01/{GTIN}/10/{batch['lot']}",
        "unit": urlsplit(unit).path,
    }


def assert_first_things_first(tab: Tab, page: str) -> None:
    tops = [tab.box(selector)[1] for selector in FIRST]
    assert tops == sorted(tops), f"{page}: {list(zip(FIRST, tops, strict=True))} are not in reading order"
    assert tab.box("[data-verdict]")[3] <= HEIGHT, f"{page}: the verdict is not on the first screen"
    leaflet = tab.box("details.leaflet")
    assert leaflet[1] > tops[-1], f"{page}: the leaflet comes before what matters"
    assert leaflet[3] - leaflet[1] < 120, f"{page}: the leaflet is not folded ({leaflet[3] - leaflet[1]} px tall)"


def assert_no_horizontal_overflow(tab: Tab, page: str) -> None:
    width = tab.evaluate("document.scrollingElement.scrollWidth")
    assert width <= WIDTH, f"{page} is {width} px wide on a {WIDTH} px phone"
    too_wide = tab.evaluate(
        f"[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > {WIDTH})"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert not too_wide, f"{page}: {too_wide} reach past the right edge"


def assert_certificates(tab: Tab, page: str, lang: str) -> None:
    certs = tab.all_attributes("li.cert")
    assert sorted(c["data-status"] for c in certs) == ["expired", "not_yet_valid", "valid", "valid", "valid"], page
    valid_look = tab.evaluate("getComputedStyle(document.querySelector('li.cert-valid .badge')).backgroundColor")
    for status in ("expired", "not_yet_valid"):
        badge = tab.text(f"li.cert-{status} .badge")
        assert "badge-valid" not in badge and f"badge-{status}" in badge, f"{page}: {badge}"
        look = tab.evaluate(f"getComputedStyle(document.querySelector('li.cert-{status} .badge')).backgroundColor")
        assert look != valid_look, f"{page}: a {status} certificate's badge looks like a valid one ({look})"
    expired = tab.evaluate("document.querySelector('li.cert-expired').innerText")
    assert EXPIRED_TEXT[lang] in expired and "EXPIRED-00112233445566778899" in expired, f"{page}: {expired!r}"
    assert VALID_TEXT[lang].lower() not in expired.replace(EXPIRED_TEXT[lang], "").lower(), f"{page}: {expired!r}"
    # an expired certificate never heads the list: the valid ones come first
    statuses = [c["data-status"] for c in certs]
    assert statuses.index("expired") > max(i for i, s in enumerate(statuses) if s == "valid"), f"{page}: {statuses}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_passport_page_on_a_phone(chromium, server, drug, lang, tmp_path: Path):
    tab = chromium.tab(WIDTH, HEIGHT)
    for level, path in drug.items():
        page = f"{level} page ({lang})"
        tab.goto(f"{server}{path}?lang={lang}")
        html = tab.html()
        assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html or f'lang="{lang}' in html, page
        assert MAKER in tab.text("dd.maker") and SHANGHAI[lang] in tab.text("dd.origin"), page
        text = tab.evaluate("document.body.innerText")
        assert PASSPORT["warnings"][lang] in text and PASSPORT["disposal"][lang] in text, page
        assert_first_things_first(tab, page)
        assert_certificates(tab, page, lang)
        assert_no_horizontal_overflow(tab, page)
        shot = tab.screenshot(f"passport-{level}-{lang}-{WIDTH}", into=tmp_path)
        assert_picture(shot)

        tab.click("details.leaflet summary")  # unfolded, the long leaflet still fits the width
        leaflet = tab.evaluate("document.querySelector('.leaflet-text').innerText")
        assert leaflet.strip().startswith(LEAFLET_ZH[:10] if lang == "zh" else LEAFLET_EN[:10]), (
            f"{page}: {leaflet[:80]}"
        )
        assert_no_horizontal_overflow(tab, f"{page}, leaflet open")
        assert_picture(tab.screenshot(f"passport-{level}-{lang}-{WIDTH}-leaflet", into=tmp_path))
