"""The landing page at ``/``: what the service is and where a newcomer goes next, in Chinese or English."""

from __future__ import annotations

from app.web.i18n import HTML_LANG, Catalogue
from app.web.pages import environment, language_links

LINKS = (
    ("home.link.docs", "/docs"),
    ("home.link.redoc", "/redoc"),
    ("home.link.openapi", "/openapi.json"),
    ("home.link.jwks", "/.well-known/jwks.json"),
    ("home.link.checkpoint", "/v1/log/checkpoint"),
    ("home.link.log_key", "/.well-known/passport-log-key"),
    ("home.link.console", "/regulator/recalls"),
)
SCAN_EXAMPLE = "/01/09506000134352/21/SERIAL?17=271231&10=LOT1"


def render_home(lang: str, url: str) -> str:
    t = Catalogue(lang)
    return (
        environment()
        .get_template("home.html")
        .render(
            t=t,
            lang=t.lang,
            html_lang=HTML_LANG[t.lang],
            languages=language_links(url, t.lang),
            links=[{"href": href, "text": t(key)} for key, href in LINKS],
            scan_example=SCAN_EXAMPLE,
        )
    )
