"""Uploaded documents (certificates, test reports, leaflets): what the bytes are, read from the bytes themselves.

The type is never taken from a header: a PDF starts with ``%PDF-`` and ends with ``%%EOF`` (ISO 32000-1 7.5.2,
7.5.5; trailing whitespace allowed), a PNG starts with its 8-byte signature and ends with an IEND chunk (RFC 2083
3.1, 11.2.5), a JPEG starts with SOI ``FF D8 FF`` and ends with EOI ``FF D9`` (ITU T.81 B.2.1). A file that only
starts right (a truncated upload, a renamed text file) is refused.
"""

from __future__ import annotations

from app.domain.errors import InvalidInput

MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def sniff(data: bytes) -> str | None:
    """The media type the bytes are, or None when they are none of PDF, PNG, JPEG (or are cut short)."""
    if data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:].rstrip(b"\r\n\t \x00")[-16:]:
        return "application/pdf"
    if data.startswith(_PNG_SIGNATURE) and data.endswith(_PNG_END):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff") and data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "image/jpeg"
    return None


def media_type_of(data: bytes, claimed: str | None) -> str:
    """The sniffed type; ``InvalidInput`` for bytes that are no accepted type or not the type the client claims
    (a missing claim, ``application/octet-stream`` or a wildcard claims nothing)."""
    if not data:
        raise InvalidInput("the body is empty: send the bytes of a PDF, PNG or JPEG", code="empty_document")
    found = sniff(data)
    if found is None:
        raise InvalidInput(
            "the bytes are not a complete PDF, PNG or JPEG (read from the bytes, not from Content-Type)",
            code="unsupported_document",
        )
    claim = (claimed or "").split(";", 1)[0].strip().lower()
    if claim and claim not in ("application/octet-stream", "*/*") and claim != found:
        raise InvalidInput(f"the body claims to be {claim} but its bytes are {found}", code="document_type_mismatch")
    return found
