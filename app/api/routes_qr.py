"""QR codes and label sheets (filled in by the QR work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
