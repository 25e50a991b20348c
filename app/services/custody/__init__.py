"""Custody events: recording them (record), the codes they name (subjects), packing and unpacking (containers),
taking one back (undo), and the per-request state they share (recorder). The rules are app/domain's: the custody
table (custody.py), the event-field and undo rules (event_rules.py), the sale rules (sale_rules.py)."""

from app.domain.event_rules import EventIn, Policy
from app.services.custody.record import Outcome, Result, record_events, write_alerts

__all__ = ["EventIn", "Outcome", "Policy", "Result", "record_events", "write_alerts"]
