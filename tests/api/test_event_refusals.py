"""Refusals of POST /v1/events that say how to fix the request (issue 13, the first hour)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import Org, assert_problem, post


def test_a_missing_codes_field_is_named(client: TestClient, maker: Org) -> None:
    body = assert_problem(post(client, maker, {"action": "ship", "to": maker.id}), 422, "codes_required")
    assert "'codes'" in body["detail"]


def test_an_unknown_action_lists_the_valid_ones(client: TestClient, maker: Org) -> None:
    body = assert_problem(post(client, maker, {"action": "shipp", "codes": ["x"]}), 422, "invalid_action")
    for action in ("ship", "receive", "sell", "undo"):
        assert action in body["detail"]
