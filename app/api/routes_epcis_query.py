"""EPCIS 2.0 query interface: ``GET /epcis/events`` and ``GET /epcis/events/{eventID}``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/epcis", tags=["epcis"])
