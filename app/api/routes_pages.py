"""The regulator console: server-rendered pages over the same services as the JSON API.

Sign-in without JavaScript: a form takes the organisation's API key and, for a regulator or a manufacturer,
keeps it in a cookie (HttpOnly, SameSite=Strict, Path=/regulator, Secure when the service is served over
https). Every page authenticates that key again through ``orgs.authenticate``, so a revoked key stops working
at once, and the services decide what each organisation may see, exactly as for the API. Rendering lives in
``app/web/regulator.py``.

CSRF defence for the POST forms (sign-in, sign-out, alert triage): two layers, no token. The cookie is
SameSite=Strict, so a request started from another site carries no key at all; and every POST must name this
site in its Origin header (or, where a browser leaves Origin out, its Referer), else it is refused with 403.
The pages send ``Referrer-Policy: same-origin`` so that browsers do send our own origin on our own forms (with
``no-referrer`` they send ``Origin: null``), and a CSP with ``form-action 'self'`` and
``frame-ancestors 'none'`` so no page can be framed or post elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.api.deps import RuntimeDep, SessionDep, custody_policy
from app.api.ids import ALERT, CASE, RECALL, largest
from app.api.problems import status_of
from app.domain.alerts import ALERT_STATUSES, ALERT_TYPES, TRIAGE_STATUSES
from app.domain.cases import CaseStatus
from app.domain.errors import DomainError, InvalidInput, NotAuthenticated, NotFound
from app.domain.orgs import Role
from app.services import alerts, cases, catalog, licences, orgs, recalls
from app.services.orgs import Principal
from app.web import case_pages, regulator
from app.web.i18n import MESSAGES, Catalogue
from app.web.pages import choose_language

router = APIRouter(prefix="/regulator", tags=["regulator console"], include_in_schema=False)

COOKIE = "passport_console"
COOKIE_PATH = "/regulator"
CONSOLE_ROLES = frozenset({Role.REGULATOR, Role.MANUFACTURER})
HOME = "/regulator/recalls"
ALERTS_PER_PAGE = 100
MAX_KEY_LENGTH = 200
MAX_ROOT_CAUSE = 1000
_FORM_TYPE = "application/x-www-form-urlencoded"
_HEADERS = {
    "Cache-Control": "no-store",  # recall and alert data stay out of shared and back-button caches
    "Vary": "Accept-Language, Cookie",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class Console:
    """One page request: its language and URL, and who is signed in (``None``: nobody, or a dead key)."""

    request: Request
    page: regulator.Page
    principal: Principal | None
    stale_cookie: bool

    @property
    def t(self) -> Catalogue:
        return Catalogue(self.page.lang)


def get_console(request: Request, session: SessionDep) -> Console:
    lang_param = request.query_params.get("lang")
    lang = choose_language(request.headers.get("accept-language"), lang_param)
    principal, stale = None, False
    key = request.cookies.get(COOKIE)
    if key:
        try:
            principal = orgs.authenticate(session, key)
        except NotAuthenticated:
            stale = True
    page = regulator.Page(
        lang=lang,
        url=_page_url(request),
        explicit_lang=lang_param is not None and lang_param.strip().lower() == lang,
        viewer=principal.name if principal else None,
        role=principal.role if principal else None,
    )
    return Console(request, page, principal, stale)


ConsoleDep = Annotated[Console, Depends(get_console)]


async def read_form(request: Request) -> dict[str, str]:
    """The fields of an urlencoded form body, first value of each (python-multipart is not a dependency)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method != "POST" or content_type != _FORM_TYPE:
        return {}
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items()}


FormDep = Annotated[dict[str, str], Depends(read_form)]


# --- responses ----------------------------------------------------------------------------------------------


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def _page_url(request: Request) -> str:
    path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = request.scope["query_string"].decode("latin-1")
    return f"{path}?{query}" if query else path


def _secure(request: Request) -> bool:
    return str(request.app.state.runtime.settings.base_url).startswith("https://")


def _forget(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=_secure(request), httponly=True, samesite="strict")


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a console page of this site only (never an open redirect)."""
    if (
        not value
        or not value.startswith("/regulator/")
        or value.startswith(("/regulator/login", "/regulator/logout"))
        or any(char in value for char in "\\\r\n\t")
    ):
        return HOME
    return value


def _to_login(console: Console) -> Response:
    request = console.request
    wanted = request.url.path if request.method != "GET" else _page_url(request)
    response = _see_other(console.page.href("/regulator/login", next=_safe_next(wanted)))
    if console.stale_cookie:
        _forget(response, request)
    return response


def _same_origin(request: Request) -> bool:
    """The CSRF check (see the module docstring): Origin, else Referer, must be this site."""
    claimed = request.headers.get("origin")
    if claimed is None:
        referer = urlsplit(request.headers.get("referer") or "")
        if not referer.scheme or not referer.netloc:
            return False
        claimed = f"{referer.scheme}://{referer.netloc}"
    own = {
        f"{request.url.scheme}://{request.headers.get('host', '')}".lower(),
        _origin_of(str(request.app.state.runtime.settings.base_url)),
    }
    return claimed.strip().lower() in own


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _refused_cross_site(console: Console) -> Response:
    return _html(regulator.render_error(console.page, status=403, message_key="reg.error.csrf"), 403)


def _error(console: Console, error: DomainError) -> Response:
    status = status_of(error)
    return _html(regulator.render_error(console.page, status=status, detail=error.detail), status)


def _show(console: Console, build: Callable[[Principal], str | Response]) -> Response:
    """Run a page for the signed-in organisation: sign-in first if needed, errors as pages."""
    principal = console.principal
    if principal is None:
        return _to_login(console)
    if principal.role not in CONSOLE_ROLES:
        return _html(regulator.render_error(console.page, status=403), 403)
    try:
        result = build(principal)
    except DomainError as error:  # raised before anything was written: committing the read is harmless
        return _error(console, error)
    return _html(result) if isinstance(result, str) else result


def _product_names(session: Session, principal: Principal, gtins: Iterable[str | None]) -> dict[str, str]:
    names = {}
    for gtin in set(gtins) - {None}:
        assert gtin is not None
        try:
            names[gtin] = catalog.get_product(session, principal, gtin).name
        except DomainError:
            continue
    return names


def _org_names(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    names = {}
    for org_id in set(ids) - {None, ""}:
        assert org_id is not None
        try:
            names[org_id] = orgs.get_org(session, org_id).name
        except NotFound:
            continue
    return names


# --- sign-in ------------------------------------------------------------------------------------------------


def _keeping_language(page: regulator.Page, path: str) -> str:
    """Where sign-in leads, in the language the sign-in page was shown in when one was chosen (``?lang=``)."""
    if not page.explicit_lang or "lang=" in path:
        return path
    return f"{path}{'&' if '?' in path else '?'}lang={page.lang}"


@router.get("")
def console_home(console: ConsoleDep) -> Response:
    return _see_other(console.page.href(HOME))


@router.get("/login")
def login_form(console: ConsoleDep) -> Response:
    query = console.request.query_params
    signed_out = query.get("signed_out") == "1"
    return _html(
        regulator.render_login(
            console.page,
            next_path=_safe_next(query.get("next")),
            message=console.t("reg.login.signed_out") if signed_out else None,
            tone="ok",
        )
    )


@router.post("/login")
def login(console: ConsoleDep, session: SessionDep, form: FormDep) -> Response:
    if not _same_origin(console.request):
        return _refused_cross_site(console)
    t, next_path = console.t, _safe_next(form.get("next"))
    key = form.get("api_key", "").strip()
    try:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise NotAuthenticated("no usable API key in the form", code="invalid_api_key")
        principal = orgs.authenticate(session, key)
    except NotAuthenticated:
        page = regulator.render_login(console.page, next_path=next_path, message=t("reg.login.bad_key"))
        return _html(page, 401)
    if principal.role not in CONSOLE_ROLES:
        role = MESSAGES[t.lang].get(f"reg.role.{principal.role}", principal.role)
        message = t("reg.login.wrong_role", name=principal.name, role=role)
        return _html(regulator.render_login(console.page, next_path=next_path, message=message), 403)
    response = _see_other(_keeping_language(console.page, next_path))
    response.set_cookie(
        COOKIE, key, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(console.request)
    )
    return response


@router.post("/logout")
def logout(console: ConsoleDep) -> Response:
    if not _same_origin(console.request):
        return _refused_cross_site(console)
    response = _see_other(console.page.href("/regulator/login", signed_out=1))
    _forget(response, console.request)
    return response


# --- licences -----------------------------------------------------------------------------------------------


@router.get("/licences")
def licence_list(console: ConsoleDep, session: SessionDep, days: str = "30") -> Response:
    """Licences lapsing within ``days`` days (regulators); a number out of 0..366 reads as the nearest bound, and
    anything else as 30."""
    within = min(max(int(days), 0), 366) if days.strip().isdigit() else 30

    def build(principal: Principal) -> str:
        found = licences.lapsing(session, principal, within_days=within)
        return regulator.render_licences(console.page, found, days=within)

    return _show(console, build)


# --- recalls ------------------------------------------------------------------------------------------------


@router.get("/recalls")
def recall_list(console: ConsoleDep, session: SessionDep) -> Response:
    def build(principal: Principal) -> str:
        found = recalls.list_recalls(session, principal)
        names = _product_names(session, principal, (recall.gtin for recall in found))
        return regulator.render_recalls(console.page, [recalls.recall_view(r) for r in found], names)

    return _show(console, build)


@router.get("/recalls/{recall_id}")
def recall_trace(recall_id: int, console: ConsoleDep, session: SessionDep) -> Response:
    def build(principal: Principal) -> str:
        found = recalls.trace(session, principal, RECALL(recall_id))
        product = catalog.get_product(session, principal, found["recall"]["gtin"])
        return regulator.render_trace(console.page, found, catalog.product_view(session, product))

    return _show(console, build)


@router.get("/cases")
def case_list(console: ConsoleDep, session: SessionDep, status: str = "") -> Response:
    def build(principal: Principal) -> str:
        wanted = CaseStatus(status) if status in CaseStatus.__members__.values() else None
        found = cases.list_cases(session, principal, status=wanted, after=0, limit=cases.MAX_PAGE)
        return case_pages.render_cases(console.page, found["cases"])

    return _show(console, build)


@router.get("/cases/{case_id}")
def case_detail(case_id: int, console: ConsoleDep, session: SessionDep, locked: str = "") -> Response:
    def build(principal: Principal) -> str:
        case = cases.get_case(session, principal, CASE(case_id))
        done = int(locked) if locked.isdigit() else None
        return case_pages.render_case(console.page, cases.case_view(session, case), locked=done)

    return _show(console, build)


@router.post("/cases/{case_id}/quarantine")
def case_quarantine(case_id: int, console: ConsoleDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    """One click: lock the signed-in organisation's stock of the case (the API's POST /v1/cases/{id}/quarantine)."""
    if not _same_origin(console.request):
        return _refused_cross_site(console)

    def build(principal: Principal) -> Response:
        policy = custody_policy(runtime.settings)
        done = cases.quarantine(session, principal, CASE(case_id), policy=policy)
        return _see_other(console.page.href(f"/regulator/cases/{case_id}", locked=done["locked"]))

    return _show(console, build)


@router.get("/recalls/{recall_id}/holders.csv")
def recall_holders_csv(recall_id: int, console: ConsoleDep, session: SessionDep) -> Response:
    """The API's CSV (same function), for a browser signed in with the cookie rather than a Bearer key."""

    def build(principal: Principal) -> Response:
        found = recalls.holders_csv(session, principal, RECALL(recall_id))
        attachment = f'attachment; filename="recall-{recall_id}-holders.csv"'
        return Response(found, media_type="text/csv", headers={"Content-Disposition": attachment})

    response = _show(console, build)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- alerts -------------------------------------------------------------------------------------------------


def _day(value: str) -> datetime:
    return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)


@router.get("/alerts")
def alert_list(console: ConsoleDep, session: SessionDep) -> Response:
    query, t = console.request.query_params, console.t
    filters = {name: (query.get(name) or "").strip() for name in ("type", "status", "region", "since", "until")}
    filters["region"] = filters["region"].upper()
    errors: list[str] = []
    choices = {"type": ALERT_TYPES, "status": ALERT_STATUSES}
    for name, allowed in choices.items():
        if filters[name] and filters[name] not in allowed:
            errors.append(t("reg.filter.bad_choice", field=t(f"reg.filter.{name}"), value=filters[name]))
    if len(filters["region"]) > 10 or not all(c.isalnum() or c == "-" for c in filters["region"]):
        errors.append(t("reg.filter.bad_choice", field=t("reg.filter.region"), value=filters["region"]))
    bounds: dict[str, datetime | None] = {"since": None, "until": None}
    for name in bounds:
        if filters[name]:
            try:
                bounds[name] = _day(filters[name])
            except ValueError:
                errors.append(t("reg.filter.bad_date", field=t(f"reg.filter.{name}"), value=filters[name]))
    since, until = bounds["since"], bounds["until"] and bounds["until"] + timedelta(days=1)  # until is inclusive
    if since and until and since >= until:
        errors.append(t("reg.filter.bad_range"))
    before = query.get("before", "")
    before_id = int(before) if before.isascii() and before.isdigit() else None
    if before and not (before_id and before_id <= largest(ALERT.column)):
        errors.append(f"before: {before} is not an alert id")

    def build(principal: Principal) -> str | Response:
        found: list[dict[str, Any]] = []
        if not errors:
            rows = alerts.list_alerts(
                session,
                principal,
                type_=filters["type"] or None,
                status=filters["status"] or None,
                region=filters["region"] or None,
                since=since,
                until=until,
                limit=ALERTS_PER_PAGE,
                before_id=before_id,
            )
            found = [alerts.alert_view(alert) for alert in rows]
        body = regulator.render_alerts(
            console.page,
            found,
            _org_names(session, (alert["org"] for alert in found)),
            filters=filters,
            errors=errors,
            older_href=(
                console.page.href("/regulator/alerts", **filters, before=found[-1]["id"])
                if len(found) == ALERTS_PER_PAGE
                else None
            ),
            newest_href=console.page.href("/regulator/alerts", **filters) if before_id else None,
        )
        return _html(body, 422) if errors else body

    return _show(console, build)


def _alert_page(
    console: Console, session: Session, principal: Principal, alert: dict[str, Any], **form_state: Any
) -> str:
    attempted_by = alert["details"].get("attempted_by")
    gtin = alert["unit"]["gtin"] if alert["unit"] else None
    return regulator.render_alert(
        console.page,
        alert,
        _org_names(session, (alert["org"], attempted_by if isinstance(attempted_by, str) else None)),
        product_name=_product_names(session, principal, (gtin,)).get(gtin or ""),
        can_triage=principal.role is Role.REGULATOR,
        **form_state,
    )


@router.get("/alerts/{alert_id}")
def alert_detail(alert_id: int, console: ConsoleDep, session: SessionDep) -> Response:
    saved = console.request.query_params.get("saved") == "1"

    def build(principal: Principal) -> str:
        alert = alerts.alert_view(alerts.get_alert(session, principal, ALERT(alert_id)))
        return _alert_page(console, session, principal, alert, saved=saved)

    return _show(console, build)


@router.post("/alerts/{alert_id}")
def alert_triage(alert_id: int, console: ConsoleDep, session: SessionDep, form: FormDep) -> Response:
    if not _same_origin(console.request):
        return _refused_cross_site(console)
    t = console.t
    status, root_cause = form.get("status", ""), form.get("root_cause", "").strip()

    def build(principal: Principal) -> str | Response:
        ALERT(alert_id)  # an id no alert can have: 404 before the form is looked at
        problem = None
        if status not in TRIAGE_STATUSES:
            problem = t("reg.triage.bad_status")
        elif len(root_cause) > MAX_ROOT_CAUSE:
            problem = t("reg.triage.too_long")
        else:
            try:
                alerts.triage(session, principal, alert_id, status=status, root_cause=root_cause or None)
            except InvalidInput as error:  # checked before the alert changes, so nothing is half-written
                problem = t("reg.triage.root_cause_required") if error.code == "root_cause_required" else error.detail
        if problem is None:
            return _see_other(console.page.href(f"/regulator/alerts/{alert_id}", saved=1))
        alert = alerts.alert_view(alerts.get_alert(session, principal, alert_id))
        return _html(_alert_page(console, session, principal, alert, form_error=problem, form=form), 422)

    return _show(console, build)
