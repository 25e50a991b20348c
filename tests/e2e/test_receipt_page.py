"""A buyer's receipt page in a real browser (headless Chromium, JavaScript off): a receipt sold once, the same
receipt once the pack was returned and sold again (suspect), and a tampered one, in zh and en; nothing is wider than
a 412 px phone. Screenshots go to ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from tests.e2e.browser import assert_picture
from tests.helpers import ok, post

DESKTOP, PHONE = (1280, 800), (412, 915)
# The elements sticking out past the right edge of the screen (as tests/e2e/test_case_pages.py counts them).
OVERFLOWING = """[...document.querySelectorAll('body *')].filter(e => {
  for (let p = e.parentElement; p; p = p.parentElement) {
    if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return false;
  }
  return e.getBoundingClientRect().right > window.innerWidth + 0.5;
}).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))"""


def test_receipt_pages_in_a_browser(chromium, server, client, maker, batch, issue, make_org):
    licensed = date.today() - timedelta(days=30)
    shop, other = (make_org("retailer", "drug_retail", licensed_from=licensed) for _ in range(2))
    [uri] = [c["uri"] for c in issue(batch["id"], 1)]
    ok(post(client, maker, {"action": "ship", "codes": [uri], "to": shop.id}))
    ok(post(client, shop, {"action": "receive", "codes": [uri]}))
    [sale] = ok(post(client, shop, {"action": "sell", "codes": [uri], "channel": "offline", "region": "CN-31"}))
    token = sale["receipts"][0]["token"]
    tab = chromium.tab(*DESKTOP)
    shots: list[Path] = []

    tab.goto(f"{server}/r/{token}?lang=en")
    assert [a["data-standing"] for a in tab.all_attributes("[data-standing]")] == ["sold_once"]
    assert "Genuine receipt: this pack was sold once" in tab.html() and "Shanghai" in tab.html()
    assert tab.all_attributes("[data-proof]")[0]["data-proof"] == "ok"
    shots.append(tab.screenshot("receipt-sold-once-1280x800"))
    tab.goto(f"{server}/r/{token}?lang=zh")
    assert "凭证真实：该药品仅销售过一次" in tab.html() and "上海" in tab.html()
    shots.append(tab.screenshot("receipt-sold-once-zh-1280x800"))

    ok(post(client, shop, {"action": "return", "codes": [uri]}))
    ok(post(client, shop, {"action": "ship", "codes": [uri], "to": other.id}))
    ok(post(client, other, {"action": "receive", "codes": [uri]}))
    ok(post(client, other, {"action": "sell", "codes": [uri], "channel": "offline"}))
    tab.goto(f"{server}/r/{token}?lang=en")
    assert [a["data-standing"] for a in tab.all_attributes("[data-standing]")] == ["sold_again"]
    assert "Suspect: this pack was sold more than once" in tab.html() and tab.text("#sales").endswith(">2</dd>")
    shots.append(tab.screenshot("receipt-sold-again-1280x800"))

    head, payload, signature = token.split(".")
    forged = f"{head}.{payload[:-4]}AAAA.{signature}"
    tab.goto(f"{server}/r/{forged}?lang=zh")
    assert "不是有效的销售凭证" in tab.html() and tab.all_attributes("[data-proof]") == []

    tab.viewport(*PHONE)
    for name, path in (
        ("sold-again", f"/r/{token}?lang=en"),
        ("sold-again-zh", f"/r/{token}?lang=zh"),
        ("invalid-zh", f"/r/{forged}?lang=zh"),
    ):
        tab.goto(server + path)
        width, _ = tab.content_size()
        assert width <= PHONE[0], f"{name} is {width} px wide on a {PHONE[0]} px phone"
        assert tab.evaluate(OVERFLOWING) == [], name
        shots.append(tab.screenshot(f"receipt-{name}-412x915"))

    for shot in shots:
        assert_picture(shot)
