"""What mutation testing of app/domain/epcis_query.py found untested (issue 21, session E): the events a page token
says were served, the token's limits, the codes of refusals that come from epcis_filters, and the ordering
parameters' texts and limits (orderDirection DESC spelled out, a count of 1, a non-ASCII digit)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from app.domain.epcis_query import Order, Position, Source, _decode_token, encode_token, parse_request
from app.domain.errors import QueryParameterError

WHEN = datetime(2026, 3, 1, 8, tzinfo=UTC)
POSITION = Position(WHEN, Source.CAPTURED, 9)
PARAMS = [("orderBy", "eventTime"), ("eventCountLimit", "50")]


def _fingerprint() -> str:
    return parse_request(PARAMS).fingerprint


def _token(**body: object) -> str:
    fields = {"t": WHEN.isoformat(), "s": 0, "i": 9, "q": _fingerprint(), **body}
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()


def _refused(params: list[tuple[str, str]]) -> QueryParameterError:
    with pytest.raises(QueryParameterError) as refused:
        parse_request(params)
    return refused.value


# ------------------------------------------------------------------------------------------ page tokens


def test_a_token_carries_the_events_served_so_far():
    token = encode_token(POSITION, _fingerprint(), served=30)
    assert json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["n"] == 30
    request = parse_request([*PARAMS, ("nextPageToken", token)])
    assert (request.after, request.served) == (POSITION, 30)


def test_a_first_page_token_says_nothing_was_served():
    token = encode_token(POSITION, _fingerprint())
    assert "n" not in json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert parse_request([*PARAMS, ("nextPageToken", token)]).served == 0
    assert _decode_token(_token(), _fingerprint()) == (POSITION, 0)


@pytest.mark.parametrize("served", [0, 1, 200, 2**63 - 1])
def test_served_counts_up_to_the_largest_signed_64_bit_integer_are_read(served):
    assert _decode_token(_token(n=served), _fingerprint()) == (POSITION, served)


@pytest.mark.parametrize("served", [-1, 2**63, 2**64])
def test_served_counts_outside_64_bits_are_not_tokens_of_this_service(served):
    with pytest.raises(QueryParameterError, match="not a token this service issued"):
        _decode_token(_token(n=served), _fingerprint())


# ------------------------------------------------------------------------------------------ codes


def test_a_master_data_parameter_keeps_its_unsupported_code():
    refused = _refused([("HASATTR_example:f", "x")])
    assert refused.code == "unsupported_query_parameter"


def test_a_malformed_filter_value_keeps_its_invalid_code():
    refused = _refused([("GT_quantity", "heavy")])
    assert refused.code == "invalid_query_parameter"
    assert refused.detail == "GT_quantity: 'heavy' is not a number"


# ------------------------------------------------------------------------------------------ ordering


@pytest.mark.parametrize("order_by", ["example:weight", "https://example.com/voc#weight"])
def test_ordering_by_an_extension_field_is_unsupported_not_invalid(order_by):
    refused = _refused([("orderBy", order_by)])
    assert refused.code == "unsupported_query_parameter"
    assert refused.detail == (
        f"orderBy: ordering by the extension field {order_by!r} is not evaluated here; order by eventTime or recordTime"
    )


def test_an_unknown_order_field_is_invalid():
    refused = _refused([("orderBy", "weight")])
    assert refused.code == "invalid_query_parameter"
    assert refused.detail == "orderBy: 'weight' is not eventTime or recordTime (nor an extension field name)"


@pytest.mark.parametrize(("direction", "descending"), [("DESC", True), (" DESC ", True), ("ASC", False)])
def test_both_directions_are_read(direction, descending):
    query = parse_request([("orderBy", "eventTime"), ("orderDirection", direction)]).query
    assert query.order == Order("eventTime", descending=descending)


@pytest.mark.parametrize("direction", ["desc", "asc", "DOWN"])
def test_other_directions_are_refused(direction):
    assert _refused([("orderBy", "eventTime"), ("orderDirection", direction)]).detail == (
        f"orderDirection: {direction!r} is not ASC or DESC"
    )


@pytest.mark.parametrize("name", ["eventCountLimit", "maxEventCount"])
def test_a_count_of_one_is_the_smallest(name):
    query = parse_request([("orderBy", "eventTime"), (name, "1")]).query
    assert (query.event_count_limit if name == "eventCountLimit" else query.max_event_count) == 1


@pytest.mark.parametrize("name", ["eventCountLimit", "maxEventCount"])
@pytest.mark.parametrize("raw", ["0", "\uff12", "-1", "two"])  # \uff12: a full-width 2, a digit but not ASCII
def test_counts_name_their_parameter_when_refused(name, raw):
    assert _refused([("orderBy", "eventTime"), (name, raw)]).detail == f"{name}: {raw!r} is not a positive integer"


def test_the_count_refusals_say_why():
    both = [("orderBy", "eventTime"), ("eventCountLimit", "2"), ("maxEventCount", "3")]
    assert _refused(both).detail == "eventCountLimit and maxEventCount are mutually exclusive; give one"
    assert _refused([("eventCountLimit", "2")]).detail == (
        "eventCountLimit needs orderBy: it keeps the first events of that order"
    )


def test_without_a_token_nothing_was_served():
    request = parse_request(PARAMS)
    assert (request.after, request.served) == (None, 0)


def test_an_extension_field_named_by_a_fragment_is_unsupported_too():
    assert _refused([("orderBy", "weight#kg")]).code == "unsupported_query_parameter"


# ------------------------------------------------------------------------------------------ WD_ (within)


def test_within_parameters_read_their_own_locations_in_any_form():
    query = parse_request(
        [
            ("WD_readPoint", "urn:epc:id:sgln:0614141.00777.0 | https://id.gs1.org/414/0614141000012"),
            ("WD_bizLocation", "urn:epc:id:sgln:0614141.00888.0"),
        ]
    ).query
    assert query.read_points_within == {"https://id.gs1.org/414/0614141007776", "https://id.gs1.org/414/0614141000012"}
    assert [i.gln for i in query.biz_locations_within] == ["0614141008889"]
    assert (query.read_points, query.biz_locations) == (None, None)
    assert parse_request([]).query.read_points_within is None
    assert parse_request([]).query.biz_locations_within is None


@pytest.mark.parametrize("name", ["WD_readPoint", "WD_bizLocation"])
def test_within_parameters_name_themselves_when_refused(name):
    assert _refused([(name, "a|")]).detail == f"{name}: empty value in 'a|' (several values are separated by '|')"
    assert _refused([(name, "urn:epc:id:sgln:1.2.3")]).detail == (
        f"{name}: urn:epc:id:sgln:1.2.3: company prefix and location reference must have 12 digits together"
    )
