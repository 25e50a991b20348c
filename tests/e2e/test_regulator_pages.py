"""The regulator console in a real browser: headless Chromium against a real uvicorn, JavaScript switched off.

Chromium is driven over the DevTools protocol (the ``websockets`` package comes with uvicorn[standard]), using
only what a person does: open a URL, type into a field, click. The browser signs in through the form, so the
cookie, its SameSite=Strict and the Origin check on POST forms are all exercised as in real use. Screenshots go
to ``test-artifacts/`` (git-ignored).

Without /usr/bin/chromium these tests skip, or fail when PASSPORT_REQUIRE_BROWSER=1 (``scripts/test`` installs
Debian's chromium when it runs as root).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from app.main import create_app
from tests.helpers import GTIN, Org, ok, post, serving, settings_for

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT = 30.0
DESKTOP, PHONE = (1280, 800), (390, 844)


# --- a minimal DevTools client ---------------------------------------------------------------------------------


class Tab:
    """One page target, driven through the DevTools protocol without running any script in the page."""

    def __init__(self, ws: ClientConnection, session_id: str) -> None:
        self._ws = ws
        self._session = session_id
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params, "sessionId": self._session}))
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == message_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            if "method" in message:
                self._events.append(message)

    def _wait_for(self, event: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for index, message in enumerate(self._events):
                if message["method"] == event and message.get("sessionId") == self._session:
                    del self._events[: index + 1]
                    return
            self._events.clear()
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {event} within {TIMEOUT} s"
            message = json.loads(self._ws.recv(timeout=remaining))
            if "method" in message:
                self._events.append(message)

    def viewport(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=width < 600
        )

    def goto(self, url: str) -> str:
        self._events.clear()
        self.send("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired")
        return self.url()

    def url(self) -> str:
        return str(self.send("DOM.getDocument", depth=0)["root"]["documentURL"])

    def _node(self, selector: str) -> int:
        root = self.send("DOM.getDocument", depth=0)["root"]["nodeId"]
        node = int(self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"])
        assert node, f"nothing matches {selector!r} on {self.url()}"
        return node

    def type(self, selector: str, text: str) -> None:
        self.send("DOM.focus", nodeId=self._node(selector))
        self.send("Input.insertText", text=text)

    def click(self, selector: str, *, navigates: bool = False) -> None:
        node = self._node(selector)
        self.send("DOM.scrollIntoViewIfNeeded", nodeId=node)
        quad = self.send("DOM.getContentQuads", nodeId=node)["quads"][0]
        x, y = sum(quad[0::2]) / 4, sum(quad[1::2]) / 4
        self._events.clear()
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        if navigates:
            self._wait_for("Page.loadEventFired")

    def html(self) -> str:
        root = self.send("DOM.getDocument", depth=0)["root"]["nodeId"]
        return str(self.send("DOM.getOuterHTML", nodeId=root)["outerHTML"])

    def all_attributes(self, selector: str) -> list[dict[str, str]]:
        root = self.send("DOM.getDocument", depth=0)["root"]["nodeId"]
        found = []
        for node in self.send("DOM.querySelectorAll", nodeId=root, selector=selector)["nodeIds"]:
            flat = self.send("DOM.getAttributes", nodeId=node)["attributes"]
            found.append(dict(zip(flat[0::2], flat[1::2], strict=True)))
        return found

    def text(self, selector: str) -> str:
        node = self._node(selector)
        return str(self.send("DOM.getOuterHTML", nodeId=node)["outerHTML"])

    def content_size(self) -> tuple[float, float]:
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        return size["width"], size["height"]

    def screenshot(self, name: str) -> Path:
        """The whole page at the current viewport width (taller pages are captured beyond the viewport)."""
        width, height = self.content_size()
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        )
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class Chromium:
    def __init__(self, binary: Path, profile: Path) -> None:
        self._stack = ExitStack()
        self._log = self._stack.enter_context((profile.parent / "chromium.log").open("wb"))
        self._process = subprocess.Popen(
            [
                str(binary),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                log = (profile.parent / "chromium.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"Chromium did not open its DevTools port:\n{log}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self._ws = self._stack.enter_context(
            connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=TIMEOUT)
        )
        self._ids = itertools.count(1_000_000)

    def tab(self, width: int, height: int) -> Tab:
        target = self._browser_call("Target.createTarget", url="about:blank")["targetId"]
        session = self._browser_call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        tab = Tab(self._ws, session)
        tab.send("Page.enable")
        tab.send("DOM.enable")
        tab.send("Emulation.setScriptExecutionDisabled", value=True)  # the console must work without JS
        tab.viewport(width, height)
        return tab

    def _browser_call(self, method: str, **params: Any) -> dict[str, Any]:
        message = {"id": next(self._ids), "method": method, "params": params}
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if reply.get("id") == message["id"] and "sessionId" not in reply:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        self._stack.close()


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture
def port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def settings(database_url: str, port: int):  # overrides the conftest fixture: the server's own base URL
    if "postgresql" in database_url:
        pytest.skip("the browser tests run on SQLite only")
    return settings_for(database_url, base_url=f"http://127.0.0.1:{port}")


@pytest.fixture
def chromium(settings, tmp_path: Path) -> Iterator[Chromium]:  # after settings: the PostgreSQL skip comes first
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (Debian package 'chromium'; scripts/test installs it when run as root)"
        if os.environ.get("PASSPORT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message} and PASSPORT_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(message)
    browser = Chromium(CHROMIUM, tmp_path / "profile")
    yield browser
    browser.close()


@pytest.fixture
def server(settings, runtime, port: int) -> Iterator[str]:
    with serving(create_app(settings, runtime), port) as url:
        yield url


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


def assert_picture(path: Path) -> None:
    assert path.exists(), path
    assert path.stat().st_size > 15_000, f"{path} is only {path.stat().st_size} bytes: a blank page?"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
    assert "12 units in scope" in tab.text("[data-total]")
    shots.append(tab.screenshot("regulator-trace-1280x800"))
    tab.goto(f"{server}/regulator/recalls/{recall_id}?lang=zh")
    assert "召回范围内共 12 件" in tab.text("[data-total]")
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
