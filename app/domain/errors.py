"""The one family of typed errors the service raises.

Each error carries a stable machine ``code``; the HTTP layer maps the *class* to a status in one table
(``app/api/problems.py``). The domain never speaks HTTP.

A refusal may still raise alerts although what it refused is rolled back (a second sale of a unit is refused,
and the regulator hears of it): it carries them as ``alerts``, plain ``AlertDraft`` values that outlive the
rolled-back savepoint, which the service writes after the rollback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert to raise about a refused request: its kind, what happened, and the code it is about (if any)."""

    type: str
    details: Mapping[str, Any]
    unit_id: int | None = None
    gtin: str | None = None
    serial: str | None = None


class DomainError(Exception):
    """Base of every expected, explainable failure."""

    code: str = "error"
    title: str = "Request failed"
    problem_type: str | None = None  # a standard's own problem type (EPCIS exceptions), else /problems/{code}

    def __init__(
        self, detail: str, *, code: str | None = None, alerts: Iterable[AlertDraft] = (), **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.alerts: list[AlertDraft] = list(alerts)
        self.extra = extra


class InvalidInput(DomainError):
    """The request is well-formed JSON but a value in it is wrong (a bad GTIN, a malformed code)."""

    code = "invalid_input"
    title = "Invalid input"


class QueryParameterError(InvalidInput):
    """An EPCIS query parameter that is malformed or not evaluated here: the standard's QueryParameterException."""

    code = "invalid_query_parameter"
    title = "Invalid query parameter"
    problem_type = "epcisException:QueryParameterException"


class SubscriptionError(InvalidInput):
    """An EPCIS subscription request that cannot be kept: the standard's SubscriptionControlsException."""

    code = "invalid_subscription"
    title = "Invalid subscription"
    problem_type = "epcisException:SubscriptionControlsException"


class QueryTooLarge(DomainError):
    """More events match an EPCIS query than its ``maxEventCount``: the standard's QueryTooLargeException."""

    code = "query_too_large"
    title = "Query result too large"
    problem_type = "epcisException:QueryTooLargeException"


class InvalidCode(InvalidInput):
    """A scanned or submitted code could not be parsed; ``detail`` says exactly what was wrong."""

    code = "invalid_code"
    title = "Invalid code"


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    """Wrong role, or data that belongs to another organisation."""

    code = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    """A business rule refuses the request (a duplicate GTIN, a missing licence...)."""

    code = "conflict"
    title = "Refused by a rule"


class NotAcceptable(DomainError):
    """No representation the client accepts (an EPCIS version this service does not write)."""

    code = "not_acceptable"
    title = "Not acceptable"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RateLimited(DomainError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after
