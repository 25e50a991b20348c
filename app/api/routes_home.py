"""The front door: the landing page at ``/`` and the API reference at ``/docs`` and ``/redoc``, served offline.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a CDN, so on a machine without internet
(a factory line, an air-gapped lab) the reference was a blank page. Here the same pages load their scripts from
the ``fastapi-offline`` package (Swagger UI 5, ReDoc 2) through a fixed set of static routes.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.domain.errors import NotFound
from app.web.home import render_home
from app.web.pages import choose_language

router = APIRouter(include_in_schema=False)

STATIC_PREFIX = "/docs/static"
_STATIC = files("fastapi_offline") / "static"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
_CACHE = {"Cache-Control": "public, max-age=86400"}


@router.get("/")
def home(request: Request, lang: Annotated[str | None, Query(max_length=8)] = None) -> HTMLResponse:
    chosen = choose_language(request.headers.get("accept-language"), lang)
    url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTMLResponse(render_home(chosen, url), headers={"Vary": "Accept-Language", "Content-Language": chosen})


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API reference",
        swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_PREFIX}/favicon.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API reference",
        redoc_js_url=f"{STATIC_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC_PREFIX}/favicon.png",
        with_google_fonts=False,
    )


@router.get(STATIC_PREFIX + "/{name}")
def docs_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no documentation asset {name!r}", code="not_found")
    return FileResponse(str(_STATIC / name), media_type=media_type, headers=_CACHE)
