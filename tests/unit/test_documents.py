"""Uploaded documents are typed by their bytes: a complete PDF, PNG or JPEG, never a header's word for it."""

from __future__ import annotations

import pytest

from app.domain.documents import media_type_of, sniff
from app.domain.errors import InvalidInput

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x00" * 10 + b"\xff\xd9"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PDF, "application/pdf"),
        (b"%PDF-%%EOF", "application/pdf"),  # the smallest: the marker may follow the header at once
        (PDF.rstrip(b"\n") + b"\r\n\t \x00\x00", "application/pdf"),  # trailing whitespace and NULs allowed
        (PDF + b"\n" * 1000, "application/pdf"),  # whitespace is stripped before the last 16 bytes are read
        (b"%PDF-" + b"x" * 2000 + b"%%EOF  junk....", "application/pdf"),  # %%EOF within the last 16 bytes
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (JPEG + b"\x00\x00\x00", "image/jpeg"),  # NUL padding after EOI
        (b"\xff\xd8\xff\xd9", "image/jpeg"),
    ],
)
def test_complete_files_are_recognised(data: bytes, expected: str) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        PDF[:-7],  # cut before %%EOF
        b"%PDF-" + b"x" * 2000 + b"%%EOF" + b"y" * 12,  # %%EOF no longer within the last 16 bytes
        b"%PDF-" + b"x" * 2000 + b"%%EOF" + b"X" * 12,  # only whitespace and NULs are stripped
        b"%%EOF" + b"x" * 2000 + b"%PDF-",  # the wrong way round
        b"%PDF %%EOF",  # no dash after %PDF
        b"PDF-1.7 %%EOF",
        PNG[:-1],  # truncated IEND
        PNG[1:],  # no signature
        b"\x89PNG\r\n\x1a" + PNG[8:],  # signature one byte short
        JPEG[:-1],
        JPEG[1:],
        b"\xff\xd8\xfe" + JPEG[3:],  # SOI without the marker's FF
        JPEG + b" ",  # only NULs may follow EOI
        JPEG + b"X",
        b"GIF89a....",
        b"hello %%EOF",
    ],
)
def test_incomplete_or_other_bytes_are_nothing(data: bytes) -> None:
    assert sniff(data) is None


def test_pdf_whitespace_stripping_is_only_of_the_tail() -> None:
    # The marker is searched for in the last 1024 bytes, whitespace and NULs stripped from their right end only.
    assert sniff(b"%PDF-" + b"x" * 3000 + b"%%EOF" + b" " * 1019) == "application/pdf"
    assert sniff(b"%PDF-" + b"x" * 3000 + b"%%EOF" + b" " * 1020) is None  # %%EOF pushed out of the last 1024 bytes
    assert sniff(b"%PDF-" + b"x" * 3000 + b"%%EOF" + b"\r" * 10 + b"\t" * 10 + b"\x00" * 10) == "application/pdf"


@pytest.mark.parametrize(
    ("data", "claimed", "expected"),
    [
        (PDF, None, "application/pdf"),
        (PDF, "", "application/pdf"),
        (PDF, "application/pdf", "application/pdf"),
        (PDF, "Application/PDF; charset=binary", "application/pdf"),  # case and parameters ignored
        (PDF, "  application/pdf  ", "application/pdf"),
        (PNG, "image/png; a=1; b=2", "image/png"),  # the type is what comes before the first semicolon
        (PNG, "application/octet-stream", "image/png"),  # claims nothing
        (JPEG, "*/*", "image/jpeg"),
        (JPEG, "image/jpeg", "image/jpeg"),
    ],
)
def test_the_sniffed_type_is_returned_when_the_claim_agrees_or_claims_nothing(
    data: bytes, claimed: str | None, expected: str
) -> None:
    assert media_type_of(data, claimed) == expected


def test_an_empty_body_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        media_type_of(b"", "application/pdf")
    assert info.value.code == "empty_document"
    assert info.value.detail == "the body is empty: send the bytes of a PDF, PNG or JPEG"


def test_unknown_bytes_are_refused_whatever_they_claim() -> None:
    with pytest.raises(InvalidInput) as info:
        media_type_of(b"hello", "application/pdf")
    assert info.value.code == "unsupported_document"
    assert info.value.detail == (
        "the bytes are not a complete PDF, PNG or JPEG (read from the bytes, not from Content-Type)"
    )


@pytest.mark.parametrize(
    ("data", "claimed", "detail"),
    [
        (PNG, "application/pdf", "the body claims to be application/pdf but its bytes are image/png"),
        (PDF, "IMAGE/PNG; q=1", "the body claims to be image/png but its bytes are application/pdf"),
        (JPEG, "image/*", "the body claims to be image/* but its bytes are image/jpeg"),
    ],
)
def test_a_claim_that_contradicts_the_bytes_is_refused(data: bytes, claimed: str, detail: str) -> None:
    with pytest.raises(InvalidInput) as info:
        media_type_of(data, claimed)
    assert info.value.code == "document_type_mismatch"
    assert info.value.detail == detail
