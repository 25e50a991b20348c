"""A minimal DevTools client for the browser tests: headless Chromium driven over the DevTools protocol (the
``websockets`` package comes with uvicorn[standard]), using only what a person does: open a URL, type into a field,
click, look. Page scripts are switched off; the tests read the DOM and the layout through DevTools.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT = 30.0


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

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression, run by DevTools (the page's own scripts stay switched off)."""
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def box(self, selector: str) -> tuple[float, float, float, float]:
        """The border box (left, top, right, bottom) of the first match, in page coordinates."""
        quad = self.send("DOM.getBoxModel", nodeId=self._node(selector))["model"]["border"]
        return min(quad[0::2]), min(quad[1::2]), max(quad[0::2]), max(quad[1::2])

    def content_size(self) -> tuple[float, float]:
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        return size["width"], size["height"]

    def screenshot(self, name: str, into: Path = ARTIFACTS) -> Path:
        """The whole page at the current viewport width (taller pages are captured beyond the viewport), saved as
        ``into/name.png``."""
        width, height = self.content_size()
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        )
        into.mkdir(parents=True, exist_ok=True)
        path = into / f"{name}.png"
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


def assert_picture(path: Path) -> None:
    assert path.exists(), path
    assert path.stat().st_size > 15_000, f"{path} is only {path.stat().st_size} bytes: a blank page?"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
