"""Printable codes: the QR Code (ISO/IEC 18004) of a unit's signed GS1 Digital Link URI, as PNG or SVG, and A4
label sheets of a batch, each symbol with its GS1 human-readable interpretation underneath.

Nothing is stored for printing: Ed25519 is deterministic, so the URI of any unit is rebuilt from its row and
the key its issuance was signed with: the exact URI handed out at issuance, whatever key signs today.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

import barcode
import qrcode
from barcode.writer import ImageWriter, SVGWriter
from qrcode.constants import ERROR_CORRECT_M
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Batch, Issuance, Product, Unit
from app.domain.errors import InvalidInput, NotFound
from app.domain.identifiers import UnitCode, date_to_yymmdd, digital_link
from app.domain.signing import Signer
from app.services.catalog import get_batch, get_product
from app.services.keys import KeyRing
from app.services.orgs import Principal

# GS1 recommends level M for Digital Link QR: about 15 % of the symbol may be scuffed, torn or glared away and
# it still reads, while Q or H would push a ~170-character signed URI up two or three versions, that is to
# smaller modules on the same small carton, which costs more reads than the extra damage tolerance saves.
ERROR_CORRECTION = ERROR_CORRECT_M
QUIET_ZONE = 4  # modules of light margin on every side, as ISO/IEC 18004 requires for QR Code

MIN_MODULE_PX, MAX_MODULE_PX, DEFAULT_MODULE_PX = 2, 20, 8
SVG_MODULE_MM = 0.5  # the printed size a stand-alone SVG announces; it is vector, so it scales cleanly

# A4 label sheet, all lengths in millimetres (the SVG's user unit).
PAGE_WIDTH, PAGE_HEIGHT = 210.0, 297.0
MARGIN = 8.0  # inside what office printers can reach
HEADER_HEIGHT = 8.0
GRID_TOP = MARGIN + HEADER_HEIGHT
GRID_WIDTH = PAGE_WIDTH - 2 * MARGIN
GRID_HEIGHT = PAGE_HEIGHT - GRID_TOP - MARGIN
CELL_PADDING = 0.75
HRI_SIZE = 2.8  # font size: the capitals and digits of a monospace face stand about 2 mm tall
HRI_LINE = 3.2
HRI_LINES = 5
CHAR_ADVANCE = 0.6  # of the font size: the advance of every common monospace face
HEADER_SIZE = 3.5
MAX_SYMBOL = 40.0  # a label, not a poster: few-per-page sheets keep symbols this size at most
MAX_PER_PAGE = 42  # 6 x 7; past that, five lines of 2 mm text squeeze modules under 0.3 mm
DEFAULT_PER_PAGE = 40
FONT = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"
_GTIN_LINE_WIDTH = len("(01) 00000000000000") * CHAR_ADVANCE * HRI_SIZE
_TEXT_BLOCK = HRI_LINES * HRI_LINE + 0.6
_SVG_NS = "http://www.w3.org/2000/svg"


@dataclass(frozen=True, slots=True)
class PrintedCode:
    gtin: str
    serial: str
    lot: str
    expires_on: date
    uri: str

    def human_readable(self) -> list[str]:
        """GS1 human-readable interpretation, one AI a line, plus the expiry as a plain date for people."""
        return [
            f"(01) {self.gtin}",
            f"(10) {self.lot}",
            f"(17) {date_to_yymmdd(self.expires_on)}",
            f"EXP {self.expires_on.isoformat()}",
            f"(21) {self.serial}",
        ]


@dataclass(frozen=True, slots=True)
class LabelPage:
    product_name: str
    gtin: str
    lot: str
    expires_on: date
    page: int
    pages: int
    codes: list[PrintedCode]


# --------------------------------------------------------------------------------------------- loading


def _printed(signer: Signer, base_url: str, gtin: str, serial: str, lot: str, expires_on: date) -> PrintedCode:
    expiry = date_to_yymmdd(expires_on)
    signature = signer.sign(gtin, serial, lot, expiry)
    uri = digital_link(base_url, UnitCode(gtin, serial, lot, expiry, signature))
    return PrintedCode(gtin, serial, lot, expires_on, uri)


def unit_code(
    session: Session, principal: Principal, keyring: KeyRing, base_url: str, gtin: str, serial: str
) -> PrintedCode:
    """The signed code of one unit, for its manufacturer (or a role that reads every product)."""
    try:
        # Ownership before existence: another organisation learns nothing about which serials exist.
        get_product(session, principal, gtin)
    except NotFound:
        raise NotFound(f"no unit with GTIN {gtin} and serial {serial}", code="unit_not_found") from None
    row = session.execute(
        select(Batch.lot, Batch.expires_on, Issuance.key_tag)
        .select_from(Unit)
        .join(Batch, Batch.id == Unit.batch_id)
        .join(Issuance, Issuance.id == Unit.issuance_id)
        .where(Unit.gtin == gtin, Unit.serial == serial)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no unit with GTIN {gtin} and serial {serial}", code="unit_not_found")
    lot, expires_on, key_tag = row
    return _printed(keyring.signer_for(session, key_tag), base_url, gtin, serial, lot, expires_on)


def label_page(
    session: Session,
    principal: Principal,
    keyring: KeyRing,
    base_url: str,
    batch_id: int,
    *,
    page: int,
    per_page: int,
) -> LabelPage:
    """One sheet of a batch's codes in issue order (issuance by issuance, each in unit id order)."""
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", code="invalid_per_page")
    if page < 1:
        raise InvalidInput("page numbers start at 1", code="invalid_page")
    batch = get_batch(session, principal, batch_id)
    product = session.get(Product, batch.gtin)
    assert product is not None  # get_batch refuses a batch whose product it cannot read
    # Issuance counts give the total and let each page be read through the (issuance_id, id) index.
    issuances = session.execute(
        select(Issuance.id, Issuance.key_tag, Issuance.count).where(Issuance.batch_id == batch.id).order_by(Issuance.id)
    ).all()
    total = sum(count for _, _, count in issuances)
    if total == 0:
        raise NotFound(f"batch {batch_id} has no codes yet: issue some first", code="page_not_found")
    pages = math.ceil(total / per_page)
    if page > pages:
        raise NotFound(
            f"batch {batch_id} has {total} codes, {pages} page{'s' if pages > 1 else ''} of {per_page}: "
            f"there is no page {page}",
            code="page_not_found",
        )
    signers: dict[int, Signer] = {}
    codes: list[PrintedCode] = []
    skip = (page - 1) * per_page
    for issuance_id, key_tag, count in issuances:
        if skip >= count:
            skip -= count
            continue
        serials = session.scalars(
            select(Unit.serial)
            .where(Unit.issuance_id == issuance_id)
            .order_by(Unit.id)
            .offset(skip)
            .limit(per_page - len(codes))
        ).all()
        skip = 0
        if key_tag not in signers:
            signers[key_tag] = keyring.signer_for(session, key_tag)
        codes.extend(_printed(signers[key_tag], base_url, batch.gtin, s, batch.lot, batch.expires_on) for s in serials)
        if len(codes) >= per_page:
            break
    return LabelPage(product.name, batch.gtin, batch.lot, batch.expires_on, page, pages, codes)


# --------------------------------------------------------------------------------------------- symbols


def qr_symbol(uri: str, *, module_px: int = 1) -> qrcode.QRCode[Any]:
    symbol = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=QUIET_ZONE, box_size=module_px)
    symbol.add_data(uri)
    symbol.make(fit=True)
    return symbol


def qr_matrix(uri: str) -> list[list[bool]]:
    """Dark modules of the symbol, quiet zone included."""
    matrix: list[list[bool]] = qr_symbol(uri).get_matrix()
    return matrix


def render_png(uri: str, *, module_px: int = DEFAULT_MODULE_PX) -> bytes:
    if not MIN_MODULE_PX <= module_px <= MAX_MODULE_PX:
        raise InvalidInput(f"size must be between {MIN_MODULE_PX} and {MAX_MODULE_PX} pixels", code="invalid_size")
    buffer = io.BytesIO()
    qr_symbol(uri, module_px=module_px).make_image().save(buffer)
    return buffer.getvalue()


def render_code128(text: str, *, fmt: str = "svg") -> bytes:
    """A Code 128 symbol (ISO/IEC 15417) of ``text``, the linear barcode China's 20-digit drug codes are printed as:
    SVG with the human-readable digits underneath (text, no font files), or PNG of the bars alone (no font needed).
    Built by python-barcode, which also adds the quiet zones and the check character."""
    writer = SVGWriter() if fmt == "svg" else ImageWriter()
    symbol = barcode.get("code128", text, writer=writer)
    buffer = io.BytesIO()
    symbol.write(buffer, options={"write_text": fmt == "svg", "module_width": 0.3, "module_height": 12.0, "dpi": 300})
    return buffer.getvalue()


def module_path(matrix: Sequence[Sequence[bool]]) -> str:
    """SVG path data of the dark modules in module units, one rectangle per horizontal run."""
    parts = []
    for y, row in enumerate(matrix):
        x, width = 0, len(row)
        while x < width:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < width and row[x]:
                x += 1
            parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return "".join(parts)


# XML 1.0 cannot carry most C0 controls even escaped; a product name holding one must still give a valid page.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", text), {'"': "&quot;"})


def _n(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def render_svg(code: PrintedCode) -> str:
    return render_uri_svg(code.uri)


def render_uri_svg(uri: str) -> str:
    """The QR Code of ``uri`` as SVG, sized for print (a unit's code, a sale receipt's URL)."""
    matrix = qr_matrix(uri)
    size = len(matrix)
    side = _n(size * SVG_MODULE_MM)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="{_SVG_NS}" version="1.1" width="{side}mm" height="{side}mm" '
        f'viewBox="0 0 {size} {size}">'
        f"<title>{_xml(uri)}</title>"
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" shape-rendering="crispEdges" d="{module_path(matrix)}"/>'
        "</svg>\n"
    )


# --------------------------------------------------------------------------------------------- label sheets


@dataclass(frozen=True, slots=True)
class Grid:
    columns: int
    rows: int
    cell_width: float
    cell_height: float
    symbol: float  # side of a symbol, quiet zone included


def grid_for(per_page: int) -> Grid:
    """The columns x rows that give the largest symbols with five lines of text under each.

    Cells stay wide enough for the GTIN line at (nearly) its natural width; longer lot or serial lines are
    narrowed to fit, never made shorter than the minimum text height.
    """
    best: Grid | None = None
    for columns in range(1, per_page + 1):
        cell_width = GRID_WIDTH / columns
        if columns > 1 and cell_width - 2 * CELL_PADDING < 0.95 * _GTIN_LINE_WIDTH:
            break
        rows = math.ceil(per_page / columns)
        cell_height = GRID_HEIGHT / rows
        symbol = min(cell_width - 2 * CELL_PADDING, cell_height - 2 * CELL_PADDING - _TEXT_BLOCK, MAX_SYMBOL)
        if best is None or symbol > best.symbol + 1e-9:
            best = Grid(columns, rows, cell_width, cell_height, symbol)
    assert best is not None and best.symbol > 0, f"no printable grid for {per_page} labels"
    return best


def _text(x: float, y: float, text: str, size: float, *, anchor: str = "start", fit: float | None = None) -> str:
    """A line of monospace text; one wider than ``fit`` is narrowed (never lowered) to fit.

    The narrowing is a horizontal scale rather than ``textLength``, which not every SVG renderer honours.
    """
    natural = len(text) * CHAR_ADVANCE * size
    place = f'x="{_n(x)}" y="{_n(y)}"'
    if fit is not None and natural > fit:
        place = f'transform="translate({_n(x)} {_n(y)}) scale({fit / natural:.4f} 1)"'
    return f'<text {place} font-size="{_n(size)}" text-anchor="{anchor}">{_xml(text)}</text>'


def _label(code: PrintedCode, x: float, y: float, grid: Grid) -> str:
    matrix = qr_matrix(code.uri)
    module = grid.symbol / len(matrix)
    centre = x + grid.cell_width / 2
    inner = grid.cell_width - 2 * CELL_PADDING
    lines = code.human_readable()
    block = min(inner, max(len(line) for line in lines) * CHAR_ADVANCE * HRI_SIZE)
    left = centre - block / 2
    top = y + CELL_PADDING
    baseline = top + grid.symbol + HRI_SIZE * 0.8
    parts = [
        '<g class="label">',
        f"<title>{_xml(code.uri)}</title>",
        f'<g transform="translate({_n(centre - grid.symbol / 2)} {_n(top)}) scale({module:.6f})">'
        f'<path class="symbol" shape-rendering="crispEdges" d="{module_path(matrix)}"/></g>',
    ]
    parts += [_text(left, baseline + i * HRI_LINE, line, HRI_SIZE, fit=inner) for i, line in enumerate(lines)]
    parts.append("</g>")
    return "".join(parts)


def _header(sheet: LabelPage) -> str:
    page = f"page {sheet.page} of {sheet.pages}"
    width_chars = int(GRID_WIDTH / (CHAR_ADVANCE * HEADER_SIZE))
    suffix = f" · LOT {sheet.lot} · EXP {sheet.expires_on.isoformat()} · GTIN {sheet.gtin}"
    room = width_chars - len(page) - 2 - len(suffix)
    name = sheet.product_name if len(sheet.product_name) <= room else sheet.product_name[: max(room - 1, 1)] + "…"
    baseline = MARGIN + HEADER_SIZE
    rule = GRID_TOP - 1.5
    return (
        '<g class="header">'
        + _text(
            MARGIN,
            baseline,
            name + suffix,
            HEADER_SIZE,
            fit=GRID_WIDTH - (len(page) + 2) * CHAR_ADVANCE * HEADER_SIZE,
        )
        + _text(PAGE_WIDTH - MARGIN, baseline, page, HEADER_SIZE, anchor="end")
        + f'<path d="M{_n(MARGIN)} {_n(rule)}H{_n(PAGE_WIDTH - MARGIN)}" stroke="#000" stroke-width="0.2"/>'
        + "</g>"
    )


def render_label_sheet(sheet: LabelPage, per_page: int) -> str:
    """An A4 page (viewBox in millimetres) of labels laid out for ``per_page``, filled row by row."""
    grid = grid_for(per_page)
    title = f"{sheet.product_name}, lot {sheet.lot}, page {sheet.page} of {sheet.pages}"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<svg xmlns="{_SVG_NS}" version="1.1" width="{_n(PAGE_WIDTH)}mm" height="{_n(PAGE_HEIGHT)}mm" '
        f'viewBox="0 0 {_n(PAGE_WIDTH)} {_n(PAGE_HEIGHT)}">',
        f"<title>{_xml(title)}</title>",
        f'<rect width="{_n(PAGE_WIDTH)}" height="{_n(PAGE_HEIGHT)}" fill="#fff"/>',
        f'<g font-family="{FONT}" fill="#000">',
        _header(sheet),
    ]
    for index, code in enumerate(sheet.codes):
        row, column = divmod(index, grid.columns)
        x, y = MARGIN + column * grid.cell_width, GRID_TOP + row * grid.cell_height
        # Faint cut guides: outside every quiet zone, so they never touch a symbol.
        parts.append(
            f'<rect class="cut" x="{_n(x)}" y="{_n(y)}" width="{_n(grid.cell_width)}" '
            f'height="{_n(grid.cell_height)}" fill="none" stroke="#ccc" stroke-width="0.1"/>'
        )
        parts.append(_label(code, x, y, grid))
    parts.append("</g></svg>\n")
    return "".join(parts)
