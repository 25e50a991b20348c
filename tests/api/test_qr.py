"""Printable QR codes and label sheets: every symbol carries exactly the URI handed out at issuance, and only
the product's manufacturer (or a role that reads everything) gets one."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any

import pytest
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from app.domain.identifiers import check_digit
from app.domain.signing import decode_signature
from app.services import clock, printing
from tests.helpers import GTIN, assert_problem

NS = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Matrix = list[list[bool]]


# --------------------------------------------------------------------------------------------- helpers


def reference_matrix(uri: str) -> Matrix:
    """The library's own symbol of the URI at level M with a 4-module quiet zone."""
    symbol = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    symbol.add_data(uri)
    symbol.make(fit=True)
    matrix: Matrix = symbol.get_matrix()
    return matrix


def png_matrix(data: bytes, module_px: int) -> Matrix:
    image = Image.open(io.BytesIO(data)).convert("L")
    width, height = image.size
    assert width == height and width % module_px == 0
    modules = width // module_px
    centre = module_px // 2
    return [
        [image.getpixel((x * module_px + centre, y * module_px + centre)) < 128 for x in range(modules)]
        for y in range(modules)
    ]


_TOKEN = re.compile(r"[MmHhVvZz]|-?\d+(?:\.\d+)?")


def path_matrix(d: str, size: int) -> Matrix:
    """Fill the module grid from SVG path data made of closed axis-aligned rectangles (M, H/h, V/v, Z)."""
    matrix = [[False] * size for _ in range(size)]
    tokens = _TOKEN.findall(d)
    i, x, y, points = 0, 0.0, 0.0, []
    while i < len(tokens):
        op = tokens[i]
        i += 1
        if op in "Mm":
            dx, dy = float(tokens[i]), float(tokens[i + 1])
            i += 2
            x, y = (x + dx, y + dy) if op == "m" else (dx, dy)
            points = [(x, y)]
        elif op in "HhVv":
            value = float(tokens[i])
            i += 1
            if op == "H":
                x = value
            elif op == "h":
                x += value
            elif op == "V":
                y = value
            else:
                y += value
            points.append((x, y))
        elif op in "Zz":
            xs, ys = {p[0] for p in points}, {p[1] for p in points}
            assert len(xs) == 2 and len(ys) == 2, f"not a rectangle: {points}"
            for row in range(int(min(ys)), int(max(ys))):
                for column in range(int(min(xs)), int(max(xs))):
                    assert not matrix[row][column], "overlapping modules"
                    matrix[row][column] = True
            x, y = points[0]
        else:  # pragma: no cover - the regex yields nothing else
            raise AssertionError(op)
    return matrix


def image_of(matrix: Matrix, module_px: int = 4) -> Image.Image:
    size = len(matrix) * module_px
    image = Image.new("L", (size, size), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.paste(0, (x * module_px, y * module_px, (x + 1) * module_px, (y + 1) * module_px))
    return image


def parse_svg(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{NS}svg"
    return root


def svg_symbol(root: ET.Element) -> tuple[str, Matrix]:
    size = int(root.attrib["viewBox"].split()[2])
    path = root.find(f"{NS}path")
    assert path is not None
    return root.findtext(f"{NS}title") or "", path_matrix(path.attrib["d"], size)


def labels(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if g.attrib.get("class") == "label"]


def label_parts(label: ET.Element, uri: str) -> tuple[str, Matrix, list[str]]:
    path = next(p for p in label.iter(f"{NS}path") if p.attrib.get("class") == "symbol")
    size = len(reference_matrix(uri))
    texts = [t.text or "" for t in label.iter(f"{NS}text")]
    return label.findtext(f"{NS}title") or "", path_matrix(path.attrib["d"], size), texts


def human_readable(code: dict[str, Any]) -> list[str]:
    expires = date.fromisoformat(code["expires_on"])
    return [
        f"(01) {code['gtin']}",
        f"(10) {code['lot']}",
        f"(17) {expires.strftime('%y%m%d')}",
        f"EXP {expires.isoformat()}",
        f"(21) {code['serial']}",
    ]


def qr_url(code: dict[str, Any], kind: str) -> str:
    return f"/v1/codes/{code['gtin']}/{code['serial']}/qr.{kind}"


def new_batch(client: Any, org: Any, gtin: str, lot: str) -> dict[str, Any]:
    today = clock.today()
    response = client.post(
        "/v1/batches",
        json={
            "gtin": gtin,
            "lot": lot,
            "manufactured_on": (today - timedelta(days=1)).isoformat(),
            "expires_on": (today + timedelta(days=400)).isoformat(),
        },
        headers=org.headers,
    )
    assert response.status_code == 201, response.text
    batch: dict[str, Any] = response.json()
    return batch


# --------------------------------------------------------------------------------------------- single codes


def test_png_is_the_qr_code_of_the_issued_uri(client, maker, batch, issue):
    [code] = issue(batch["id"], 1)
    response = client.get(qr_url(code, "png"), headers=maker.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)
    assert response.headers["cache-control"].startswith("private")
    expected = reference_matrix(code["uri"])
    assert Image.open(io.BytesIO(response.content)).size == (len(expected) * 8,) * 2
    assert png_matrix(response.content, 8) == expected
    # The quiet zone: four light modules on every side.
    assert not any(any(row) for row in expected[:4] + expected[-4:])
    assert not any(any(row[:4] + row[-4:]) for row in expected)


def test_png_module_size_is_bounded(client, maker, batch, issue):
    [code] = issue(batch["id"], 1)
    response = client.get(qr_url(code, "png"), params={"size": 3}, headers=maker.headers)
    assert response.status_code == 200
    assert png_matrix(response.content, 3) == reference_matrix(code["uri"])
    for size in (1, 21, "big"):
        bad = client.get(qr_url(code, "png"), params={"size": size}, headers=maker.headers)
        assert_problem(bad, 422, "validation_error")


def test_svg_is_well_formed_with_the_same_modules(client, maker, batch, issue):
    [code] = issue(batch["id"], 1)
    response = client.get(qr_url(code, "svg"), headers=maker.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"].startswith("private")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    root = parse_svg(response.content)
    title, matrix = svg_symbol(root)
    assert title == code["uri"]  # the '&' of the query survived XML escaping
    assert matrix == reference_matrix(code["uri"])
    png = client.get(qr_url(code, "png"), params={"size": 2}, headers=maker.headers)
    assert png_matrix(png.content, 2) == matrix


def test_a_scanner_reads_the_issued_uri(client, maker, batch, issue):
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (test extra) decodes the symbols")
    [code] = issue(batch["id"], 1)
    png = client.get(qr_url(code, "png"), params={"size": 4}, headers=maker.headers)
    svg = client.get(qr_url(code, "svg"), headers=maker.headers)
    for image in (Image.open(io.BytesIO(png.content)), image_of(svg_symbol(parse_svg(svg.content))[1])):
        [read] = zxingcpp.read_barcodes(image)
        assert read.format == zxingcpp.BarcodeFormat.QRCode
        assert read.ec_level == "M"
        assert read.text == code["uri"]


def test_only_the_manufacturer_and_readers_of_everything_get_a_code(client, maker, make_org, batch, issue):
    [code] = issue(batch["id"], 1)
    for outsider in (make_org("manufacturer"), make_org("distributor")):
        for kind in ("png", "svg"):
            assert_problem(client.get(qr_url(code, kind), headers=outsider.headers), 403, "foreign_product")
    for reader in (make_org("regulator"), make_org("admin")):
        assert client.get(qr_url(code, "svg"), headers=reader.headers).status_code == 200
    assert_problem(client.get(qr_url(code, "png")), 401, "missing_api_key")


def test_unknown_units_and_bad_gtins(client, maker, batch, issue):
    [code] = issue(batch["id"], 1)
    assert_problem(client.get(f"/v1/codes/{GTIN}/NOSUCHSERIAL/qr.png", headers=maker.headers), 404, "unit_not_found")
    unregistered = "0950600099999" + check_digit("0950600099999")
    assert_problem(
        client.get(f"/v1/codes/{unregistered}/{code['serial']}/qr.svg", headers=maker.headers),
        404,
        "unit_not_found",
    )
    wrong_check_digit = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    assert_problem(
        client.get(f"/v1/codes/{wrong_check_digit}/{code['serial']}/qr.png", headers=maker.headers),
        422,
        "invalid_gtin",
    )


def test_a_key_rotation_leaves_old_codes_unchanged(client, maker, make_org, batch, issue):
    [old] = issue(batch["id"], 1)
    admin = make_org("admin")
    assert client.post("/v1/admin/signing-keys", headers=admin.headers).status_code == 201
    [new] = issue(batch["id"], 1)
    old_tag, _ = decode_signature(old["uri"].rsplit("8030=", 1)[1])
    new_tag, _ = decode_signature(new["uri"].rsplit("8030=", 1)[1])
    assert old_tag != new_tag
    for code in (old, new):
        png = client.get(qr_url(code, "png"), headers=maker.headers)
        assert png_matrix(png.content, 8) == reference_matrix(code["uri"])
        title, matrix = svg_symbol(parse_svg(client.get(qr_url(code, "svg"), headers=maker.headers).content))
        assert (title, matrix) == (code["uri"], reference_matrix(code["uri"]))


# --------------------------------------------------------------------------------------------- label sheets


def labels_url(batch_id: int) -> str:
    return f"/v1/batches/{batch_id}/labels.svg"


def test_label_pages_hold_the_codes_in_issue_order(client, maker, batch, issue, product):
    codes = issue(batch["id"], 45)
    first = client.get(labels_url(batch["id"]), params={"per_page": 40}, headers=maker.headers)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("image/svg+xml")
    assert first.headers["cache-control"].startswith("private")
    root = parse_svg(first.content)
    assert (root.attrib["width"], root.attrib["height"], root.attrib["viewBox"]) == (
        "210mm",
        "297mm",
        "0 0 210 297",
    )
    header = next(g for g in root.iter(f"{NS}g") if g.attrib.get("class") == "header")
    header_text = " ".join(t.text or "" for t in header.iter(f"{NS}text"))
    assert product["name"] in header_text and "LOT42" in header_text and "page 1 of 2" in header_text

    response = client.get(labels_url(batch["id"]), params={"page": 2, "per_page": 40}, headers=maker.headers)
    second = parse_svg(response.content)
    pages = (labels(root), labels(second))
    assert [len(p) for p in pages] == [40, 5]
    for label, code in zip(pages[0] + pages[1], codes, strict=True):
        title, matrix, texts = label_parts(label, code["uri"])
        assert title == code["uri"]
        assert matrix == reference_matrix(code["uri"])
        assert texts == human_readable(code)

    beyond = client.get(labels_url(batch["id"]), params={"page": 3, "per_page": 40}, headers=maker.headers)
    assert_problem(beyond, 404, "page_not_found")
    assert "45 codes" in beyond.json()["detail"]
    default = parse_svg(client.get(labels_url(batch["id"]), headers=maker.headers).content)
    assert len(labels(default)) == printing.DEFAULT_PER_PAGE


def test_label_pages_run_across_issuances_and_keys(client, maker, make_org, batch, issue):
    codes = issue(batch["id"], 3)
    assert client.post("/v1/admin/signing-keys", headers=make_org("admin").headers).status_code == 201
    codes += issue(batch["id"], 3)
    seen = []
    for page in (1, 2):
        response = client.get(labels_url(batch["id"]), params={"page": page, "per_page": 4}, headers=maker.headers)
        seen += [label.findtext(f"{NS}title") for label in labels(parse_svg(response.content))]
    assert seen == [code["uri"] for code in codes]


def test_label_sheet_refusals(client, maker, make_org, batch, issue):
    url = labels_url(batch["id"])
    assert_problem(client.get(url, headers=maker.headers), 404, "page_not_found")  # nothing issued yet
    issue(batch["id"], 2)
    for params in ({"per_page": 0}, {"per_page": printing.MAX_PER_PAGE + 1}, {"page": 0}):
        assert_problem(client.get(url, params=params, headers=maker.headers), 422, "validation_error")
    assert_problem(client.get(url, headers=make_org("manufacturer").headers), 403, "foreign_batch")
    assert_problem(client.get(labels_url(999_999), headers=maker.headers), 404, "batch_not_found")
    assert client.get(url, headers=make_org("regulator").headers).status_code == 200


def test_text_is_escaped(client, maker, issue):
    gtin = "0950600013436" + check_digit("0950600013436")
    name = '<Kids> & "Syrup" \x07'
    response = client.post(
        "/v1/products", json={"gtin": gtin, "name": name, "category": "drug_otc"}, headers=maker.headers
    )
    assert response.status_code == 201, response.text
    batch = new_batch(client, maker, gtin, 'L<&>"1')
    [code] = issue(batch["id"], 1)
    assert "/10/L%3C%26%3E%221/" in code["uri"]

    sheet = client.get(labels_url(batch["id"]), headers=maker.headers)
    assert b"<Kids>" not in sheet.content and b"\x07" not in sheet.content
    root = parse_svg(sheet.content)
    header_text = " ".join(
        t.text or "" for g in root.iter(f"{NS}g") if g.attrib.get("class") == "header" for t in g.iter(f"{NS}text")
    )
    assert '<Kids> & "Syrup" \ufffd' in header_text and 'LOT L<&>"1' in header_text
    [label] = labels(root)
    title, matrix, texts = label_parts(label, code["uri"])
    assert (title, matrix, texts) == (code["uri"], reference_matrix(code["uri"]), human_readable(code))

    single = parse_svg(client.get(qr_url(code, "svg"), headers=maker.headers).content)
    assert svg_symbol(single) == (code["uri"], reference_matrix(code["uri"]))


# ------------------------------------------------------------------------------------ layout (no database)


@pytest.mark.parametrize("per_page", range(1, printing.MAX_PER_PAGE + 1))
def test_every_allowed_grid_fits_the_page_with_printable_symbols(per_page):
    grid = printing.grid_for(per_page)
    assert grid.columns * grid.rows >= per_page
    assert grid.columns * grid.cell_width <= printing.GRID_WIDTH + 1e-6
    assert grid.rows * grid.cell_height <= printing.GRID_HEIGHT + 1e-6
    assert printing.GRID_TOP + printing.GRID_HEIGHT <= printing.PAGE_HEIGHT - printing.MARGIN + 1e-6
    # A 57-module symbol (a typical signed URI, version 8 at level M) keeps modules of at least 0.3 mm.
    assert grid.symbol / 57 >= 0.3
    # The symbol and five lines of text under it stay inside the cell.
    last_baseline = printing.CELL_PADDING + grid.symbol + printing.HRI_SIZE * 0.8 + 4 * printing.HRI_LINE
    assert last_baseline + 0.3 * printing.HRI_SIZE <= grid.cell_height
    assert grid.symbol <= grid.cell_width - 2 * printing.CELL_PADDING


def test_text_is_at_least_two_millimetres_tall():
    # Capitals and digits of monospace faces are about 0.73 em tall (DejaVu Sans Mono: 0.729).
    assert printing.HRI_SIZE * 0.729 >= 2.0
