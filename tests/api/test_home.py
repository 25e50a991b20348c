"""The front door: a landing page at ``/`` and an API reference that needs no internet (issue 13, the first hour)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_root_is_a_landing_page_with_the_next_steps(client: TestClient) -> None:
    page = client.get("/", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for href in ("/docs", "/.well-known/jwks.json", "/v1/log/checkpoint", "/01/"):
        assert href in page.text
    assert "How to check a product" in page.text


def test_root_speaks_chinese_when_asked(client: TestClient) -> None:
    page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "如何查验产品" in page.text
    assert "如何查验产品" not in client.get("/?lang=en", headers={"Accept-Language": "zh-CN"}).text


def test_docs_load_every_asset_from_this_service(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']?([^"' >]+)""", page.text)
    assert assets, page.text
    for asset in assets:
        assert asset.startswith("/"), f"{asset} would need the internet"
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 1000
    assert "persistAuthorization" in page.text
    assert "cdn" not in page.text.lower()


def test_redoc_is_offline_too(client: TestClient) -> None:
    page = client.get("/redoc")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "fonts.googleapis" not in page.text
    script = re.search(r'src="([^"]+)"', page.text)
    assert script and client.get(script.group(1)).status_code == 200


def test_the_openapi_document_declares_the_bearer_scheme_for_the_authorize_button(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert "/" not in document["paths"] and "/docs" not in document["paths"]


def test_only_the_known_assets_are_served(client: TestClient) -> None:
    for name in ("core.py", "..%2F..%2Fcore.py", "missing.js"):
        answer = client.get(f"/docs/static/{name}")
        assert answer.status_code == 404, name
