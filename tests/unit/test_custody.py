"""The custody state machine, pair by pair: every (status, action) either moves to the state written here by
hand or is refused with one of a closed set of stable codes.

The expected tables below are written from the rules (docs/rules.md), not copied from ``RULES``, so a wrong,
missing or extra entry in any column of the domain table fails here. ``undo`` is the service's business and is
left out.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.custody import (
    PUBLIC_STATE,
    RULES,
    Action,
    Custody,
    Refused,
    Status,
    apply,
    refusal_code,
)

S = Status
A = Action

HOLDER = "org-holder"
ADDRESSEE = "org-addressee"
STRANGER = "org-stranger"

# The stable codes a refused (status, action) pair may carry.
TABLE_CODES = frozenset(
    {
        "already_sold",
        "destroyed",
        "recycled",
        "stolen",
        "exported",
        "locked",
        "in_transit",
        "opened",
        "not_in_transit",
        "not_locked",
        "not_sold",
        "invalid_transition",
    }
)
# The stable codes the actor rules add.
ACTOR_CODES = frozenset({"not_custodian", "not_addressed_to_you", "destination_required", "ship_to_self"})
ALL_CODES = TABLE_CODES | ACTOR_CODES

TERMINAL = frozenset({S.DESTROYED, S.STOLEN, S.EXPORTED, S.RECYCLED})
LOCKABLE = (S.ISSUED, S.HELD, S.RETURNED, S.OPEN)

# Written by hand from the rules. ``S.LOCKED`` + unlock goes back to ``previous``; the exhaustive test
# locks from HELD.
EXPECTED: dict[Status, dict[Action, Status]] = {
    S.ISSUED: {
        A.PACK: S.ISSUED,
        A.UNPACK: S.ISSUED,
        A.SHIP: S.IN_TRANSIT,
        A.SELL: S.SOLD,
        A.DESTROY: S.DESTROYED,
        A.RECYCLE: S.RECYCLED,
        A.LOCK: S.LOCKED,
        A.REPORT_STOLEN: S.STOLEN,
        A.EXPORT: S.EXPORTED,
    },
    S.HELD: {
        A.PACK: S.HELD,
        A.UNPACK: S.HELD,
        A.SHIP: S.IN_TRANSIT,
        A.SELL: S.SOLD,
        A.DISPENSE: S.DISPENSED,
        A.OPEN: S.OPEN,
        A.DESTROY: S.DESTROYED,
        A.RECYCLE: S.RECYCLED,
        A.LOCK: S.LOCKED,
        A.REPORT_STOLEN: S.STOLEN,
        A.EXPORT: S.EXPORTED,
    },
    S.RETURNED: {
        A.PACK: S.RETURNED,
        A.UNPACK: S.RETURNED,
        A.SHIP: S.IN_TRANSIT,
        A.DESTROY: S.DESTROYED,
        A.RECYCLE: S.RECYCLED,
        A.LOCK: S.LOCKED,
        A.REPORT_STOLEN: S.STOLEN,
    },
    S.IN_TRANSIT: {
        A.RECEIVE: S.HELD,
        A.REPORT_STOLEN: S.STOLEN,
    },
    S.OPEN: {
        A.DISPENSE: S.OPEN,  # dispensed in parts: the pack stays open
        A.DESTROY: S.DESTROYED,
        A.RECYCLE: S.RECYCLED,
        A.LOCK: S.LOCKED,
        A.REPORT_STOLEN: S.STOLEN,
    },
    S.LOCKED: {
        A.UNLOCK: S.HELD,  # the ``previous`` of the record built below
        A.DESTROY: S.DESTROYED,
        A.REPORT_STOLEN: S.STOLEN,
    },
    S.SOLD: {
        A.RETURN: S.RETURNED,
        A.RECYCLE: S.RECYCLED,
    },
    S.DISPENSED: {
        A.RETURN: S.RETURNED,
        A.RECYCLE: S.RECYCLED,
    },
    S.DESTROYED: {},
    S.RECYCLED: {},
    S.STOLEN: {},
    S.EXPORTED: {},
}

# The other columns, one row per action, written by hand: who may act ("holder", "addressee"), in which statuses
# anyone may act instead, whether a destination is needed, what the action takes, whether it may be undone, and
# the action's own refusal code for a status it does not move from (None: the status's code).
COLUMNS: dict[Action, tuple[str, frozenset[Status], bool, str, bool, str | None]] = {
    A.PACK: ("holder", frozenset(), False, "any", False, None),
    A.UNPACK: ("holder", frozenset(), False, "containers", False, None),
    A.SHIP: ("holder", frozenset(), True, "any", False, None),
    A.RECEIVE: ("addressee", frozenset(), False, "any", False, "not_in_transit"),
    A.SELL: ("holder", frozenset(), False, "units", True, None),
    A.DISPENSE: ("holder", frozenset(), False, "units", True, None),
    A.OPEN: ("holder", frozenset(), False, "units", False, None),
    A.RETURN: ("holder", frozenset(), False, "units", False, "not_sold"),
    A.DESTROY: ("holder", frozenset(), False, "any", False, None),
    A.RECYCLE: ("holder", frozenset({S.SOLD, S.DISPENSED}), False, "units", False, None),
    A.LOCK: ("holder", frozenset(), False, "any", True, None),
    A.UNLOCK: ("holder", frozenset(), False, "any", False, "not_locked"),
    A.REPORT_STOLEN: ("holder", frozenset(), False, "any", False, None),
    A.EXPORT: ("holder", frozenset(), False, "any", True, None),
}
# The to-state columns that are not statuses: pack and unpack leave the record as it is (so does dispensing part
# of an open pack); unlock goes back to what the lock remembered.
SAME_PAIRS = {(s, a) for s in (S.ISSUED, S.HELD, S.RETURNED) for a in (A.PACK, A.UNPACK)} | {(S.OPEN, A.DISPENSE)}

ACTIONS = tuple(a for a in Action if a is not A.UNDO)
PAIRS = [(s, a) for s in Status for a in ACTIONS]
ALLOWED = [(s, a) for s, actions in EXPECTED.items() for a in actions]
TABLE_PAIRS = {(s, a) for a, rule in RULES.items() for s in rule.moves}


def record(status: Status) -> Custody:
    """A record in ``status`` held by HOLDER (in transit: sent by HOLDER to ADDRESSEE; locked: was HELD)."""
    if status is S.IN_TRANSIT:
        return Custody(status, holder=HOLDER, to=ADDRESSEE)
    if status is S.LOCKED:
        return Custody(status, holder=HOLDER, previous=S.HELD)
    return Custody(status, holder=HOLDER)


def act(custody: Custody, action: Action, actor: str | None = None, to: str | None = None) -> Custody:
    """``apply`` by the party entitled to act (the addressee receives; a shipment goes to ADDRESSEE)."""
    if actor is None:
        actor = ADDRESSEE if action is A.RECEIVE else HOLDER
    if to is None and action is A.SHIP:
        to = ADDRESSEE
    return apply(custody, action, actor, to)


def test_expected_table_covers_every_status() -> None:
    assert set(EXPECTED) == set(Status)


def test_allowed_pairs_are_exactly_the_hand_written_table() -> None:
    assert TABLE_PAIRS == set(ALLOWED)


def test_undo_is_left_to_the_service() -> None:
    assert A.UNDO not in RULES
    assert set(RULES) == set(ACTIONS)


@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_every_column_of_each_row_is_the_hand_written_one(action: Action) -> None:
    rule = RULES[action]
    by, anyone_when, needs_destination, takes, undoable, refused = COLUMNS[action]
    assert (rule.by.value, rule.anyone_when, rule.needs_destination) == (by, anyone_when, needs_destination)
    assert (rule.takes.value, rule.undoable, rule.refused) == (takes, undoable, refused)


@pytest.mark.parametrize(("status", "action"), ALLOWED, ids=[f"{s.value}-{a.value}" for s, a in ALLOWED])
def test_the_to_state_column(status: Status, action: Action) -> None:
    to = RULES[action].moves[status]
    if (status, action) in SAME_PAIRS:
        assert to.value == "same"
    elif action is A.UNLOCK:
        assert to.value == "previous"
    else:
        assert to is EXPECTED[status][action]


@pytest.mark.parametrize(("status", "action"), PAIRS, ids=[f"{s.value}-{a.value}" for s, a in PAIRS])
def test_every_pair_moves_to_its_expected_state_or_is_refused_with_a_stable_code(
    status: Status, action: Action
) -> None:
    expected = EXPECTED[status].get(action)
    if expected is not None:
        assert act(record(status), action).status is expected
    else:
        with pytest.raises(Refused) as refused:
            act(record(status), action)
        assert refused.value.code == refusal_code(status, action)
        assert refused.value.code in TABLE_CODES


@pytest.mark.parametrize(("status", "action"), PAIRS, ids=[f"{s.value}-{a.value}" for s, a in PAIRS])
def test_refusal_codes_are_stable(status: Status, action: Action) -> None:
    """Written out by hand: the action's own precondition first, then what the unit is."""
    by_action = {A.RECEIVE: "not_in_transit", A.UNLOCK: "not_locked", A.RETURN: "not_sold"}
    by_status = {
        S.SOLD: "already_sold",
        S.DISPENSED: "already_sold",
        S.DESTROYED: "destroyed",
        S.RECYCLED: "recycled",
        S.STOLEN: "stolen",
        S.EXPORTED: "exported",
        S.LOCKED: "locked",
        S.IN_TRANSIT: "in_transit",
        S.OPEN: "opened",
    }
    code = refusal_code(status, action)
    assert code == by_action.get(action, by_status.get(status, "invalid_transition"))
    assert code in TABLE_CODES


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (S.SOLD, "already_sold"),
        (S.DISPENSED, "already_sold"),
        (S.DESTROYED, "destroyed"),
        (S.STOLEN, "stolen"),
        (S.EXPORTED, "exported"),
        (S.LOCKED, "locked"),
        (S.RECYCLED, "recycled"),
        (S.IN_TRANSIT, "in_transit"),
    ],
)
@pytest.mark.parametrize("action", [A.SELL, A.DISPENSE])
def test_no_sale_of_a_unit_that_is_not_on_hand(status: Status, code: str, action: Action) -> None:
    with pytest.raises(Refused) as refused:
        act(record(status), action)
    assert refused.value.code == code


def test_an_open_pack_is_not_sold_whole() -> None:
    with pytest.raises(Refused) as refused:
        act(record(S.OPEN), A.SELL)
    assert refused.value.code == "opened"


# --- who may act --------------------------------------------------------------------------------------------

CONSUMER_RECYCLE = frozenset({S.SOLD, S.DISPENSED})  # a consumer hands it in anywhere
HOLDER_PAIRS = [(s, a) for s, a in ALLOWED if a is not A.RECEIVE and not (a is A.RECYCLE and s in CONSUMER_RECYCLE)]


@pytest.mark.parametrize(("status", "action"), HOLDER_PAIRS, ids=[f"{s.value}-{a.value}" for s, a in HOLDER_PAIRS])
def test_only_the_custodian_may_act(status: Status, action: Action) -> None:
    with pytest.raises(Refused) as refused:
        act(record(status), action, actor=STRANGER)
    assert refused.value.code == "not_custodian"


@pytest.mark.parametrize("status", sorted(CONSUMER_RECYCLE))
def test_anyone_may_recycle_what_a_consumer_hands_back(status: Status) -> None:
    after = act(record(status), A.RECYCLE, actor=STRANGER)
    assert after.status is S.RECYCLED
    assert after.holder == STRANGER


@pytest.mark.parametrize("actor", [STRANGER, HOLDER])
def test_receive_needs_the_addressee(actor: str) -> None:
    with pytest.raises(Refused) as refused:
        act(record(S.IN_TRANSIT), A.RECEIVE, actor=actor)
    assert refused.value.code == "not_addressed_to_you"


def test_receive_hands_custody_to_the_receiver() -> None:
    after = act(record(S.IN_TRANSIT), A.RECEIVE)
    assert after == Custody(S.HELD, holder=ADDRESSEE, to=None)


@pytest.mark.parametrize("status", [S.ISSUED, S.HELD, S.RETURNED])
def test_ship_needs_a_destination(status: Status) -> None:
    with pytest.raises(Refused) as refused:
        apply(record(status), A.SHIP, HOLDER, None)
    assert refused.value.code == "destination_required"
    with pytest.raises(Refused) as refused:
        apply(record(status), A.SHIP, HOLDER, "")
    assert refused.value.code == "destination_required"


@pytest.mark.parametrize("status", [S.ISSUED, S.HELD, S.RETURNED])
def test_ship_not_to_self(status: Status) -> None:
    with pytest.raises(Refused) as refused:
        apply(record(status), A.SHIP, HOLDER, HOLDER)
    assert refused.value.code == "ship_to_self"


def test_ship_records_sender_and_addressee() -> None:
    after = act(record(S.HELD), A.SHIP)
    assert after == Custody(S.IN_TRANSIT, holder=HOLDER, to=ADDRESSEE)


def test_a_stranger_shipping_is_refused_before_the_destination_is_checked() -> None:
    with pytest.raises(Refused) as refused:
        apply(record(S.HELD), A.SHIP, STRANGER, STRANGER)
    assert refused.value.code == "not_custodian"


def test_an_open_pack_is_dispensed_in_parts_by_its_holder_only() -> None:
    opened = act(record(S.HELD), A.OPEN)
    assert opened == Custody(S.OPEN, holder=HOLDER)
    after = opened
    for _ in range(3):
        after = act(after, A.DISPENSE)
        assert after == opened
    with pytest.raises(Refused) as refused:
        act(after, A.DISPENSE, actor=STRANGER)
    assert refused.value.code == "not_custodian"


@pytest.mark.parametrize("status", [S.SOLD, S.DISPENSED])
@pytest.mark.parametrize("action", [A.SELL, A.DISPENSE])
@pytest.mark.parametrize("actor", [HOLDER, STRANGER])
def test_a_unit_is_sold_once(status: Status, action: Action, actor: str) -> None:
    with pytest.raises(Refused) as refused:
        act(record(status), action, actor=actor)
    assert refused.value.code == "already_sold"


def test_a_sale_keeps_the_seller_as_holder_so_only_they_take_it_back() -> None:
    sold = act(record(S.HELD), A.SELL)
    assert sold == Custody(S.SOLD, holder=HOLDER)
    with pytest.raises(Refused) as refused:
        act(sold, A.RETURN, actor=STRANGER)
    assert refused.value.code == "not_custodian"
    assert act(sold, A.RETURN) == Custody(S.RETURNED, holder=HOLDER)


# --- lock and unlock ----------------------------------------------------------------------------------------


def test_lockable_statuses() -> None:
    assert {s for s, a in TABLE_PAIRS if a is A.LOCK} == set(LOCKABLE)


@given(status=st.sampled_from(LOCKABLE), holder=st.text(min_size=1, max_size=8))
def test_unlock_restores_what_lock_remembered(status: Status, holder: str) -> None:
    before = Custody(status, holder=holder)
    locked = apply(before, A.LOCK, holder)
    assert locked.status is S.LOCKED
    assert locked.previous is status
    assert locked.holder == holder
    assert apply(locked, A.UNLOCK, holder) == before


@given(status=st.sampled_from(LOCKABLE), holder=st.text(min_size=1, max_size=8))
def test_only_the_custodian_locks_and_unlocks(status: Status, holder: str) -> None:
    other = holder + "x"
    with pytest.raises(Refused) as refused:
        apply(Custody(status, holder=holder), A.LOCK, other)
    assert refused.value.code == "not_custodian"
    locked = apply(Custody(status, holder=holder), A.LOCK, holder)
    with pytest.raises(Refused) as refused:
        apply(locked, A.UNLOCK, other)
    assert refused.value.code == "not_custodian"


def test_a_locked_unit_cannot_be_locked_again() -> None:
    with pytest.raises(Refused) as refused:
        act(record(S.LOCKED), A.LOCK)
    assert refused.value.code == "locked"


# --- public state -------------------------------------------------------------------------------------------

CONTRACT_STATES = frozenset(
    {
        "issued",
        "in_supply_chain",
        "sold",
        "dispensed",
        "destroyed",
        "recycled",
        "stolen",
        "exported",
        "locked",
    }
)


def test_public_state_covers_every_status_and_stays_in_the_contract() -> None:
    assert set(PUBLIC_STATE) == set(Status)
    assert set(PUBLIC_STATE.values()) <= CONTRACT_STATES


@pytest.mark.parametrize(
    ("status", "public"),
    [
        (S.ISSUED, "issued"),
        (S.HELD, "in_supply_chain"),
        (S.IN_TRANSIT, "in_supply_chain"),
        (S.RETURNED, "in_supply_chain"),
        (S.SOLD, "sold"),
        (S.DISPENSED, "dispensed"),
        (S.DESTROYED, "destroyed"),
        (S.RECYCLED, "recycled"),
        (S.STOLEN, "stolen"),
        (S.EXPORTED, "exported"),
        (S.LOCKED, "locked"),
    ],
)
def test_public_state(status: Status, public: str) -> None:
    assert record(status).public_state == public


# --- random journeys ----------------------------------------------------------------------------------------

PARTIES = ("org-a", "org-b", "org-c")
STEPS = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.sampled_from(PARTIES), st.sampled_from((None, *PARTIES))),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_random_journeys_respect_the_rules(steps: list[tuple[Action, str, str | None]]) -> None:
    custody = Custody(S.ISSUED, holder=PARTIES[0])
    sold = False  # sold or dispensed, and not returned since
    for action, actor, to in steps:
        before = custody
        try:
            custody = apply(custody, action, actor, to)
        except Refused as refused:
            assert refused.code in ALL_CODES
            if (before.status, action) not in TABLE_PAIRS:
                assert refused.code == refusal_code(before.status, action)
            continue
        # Only pairs of the hand-written table ever succeed, and they land where it says.
        assert action in EXPECTED[before.status]
        expected = before.previous if action is A.UNLOCK else EXPECTED[before.status][action]
        assert custody.status is expected
        assert isinstance(custody.status, Status)
        assert custody.holder is not None
        assert (custody.to is not None) == (custody.status is S.IN_TRANSIT)
        assert (custody.previous is not None) == (custody.status is S.LOCKED)
        assert before.status not in TERMINAL
        if sold:
            assert action not in (A.SELL, A.DISPENSE)
        if custody.status in (S.SOLD, S.DISPENSED):
            sold = True
        if action is A.RETURN:
            sold = False


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from([a for a in ACTIONS if a is not A.RETURN]),
            st.sampled_from(PARTIES),
            st.sampled_from((None, *PARTIES)),
        ),
        max_size=30,
    ),
    status=st.sampled_from([S.SOLD, S.DISPENSED]),
)
def test_once_sold_never_sold_again_without_a_return(
    steps: list[tuple[Action, str, str | None]], status: Status
) -> None:
    custody = Custody(status, holder=PARTIES[0])
    for action, actor, to in steps:
        try:
            custody = apply(custody, action, actor, to)
        except Refused:
            continue
        assert action not in (A.SELL, A.DISPENSE)
        assert custody.status in (S.SOLD, S.DISPENSED, S.RECYCLED)


@pytest.mark.parametrize("status", sorted(TERMINAL))
@pytest.mark.parametrize("actor", [HOLDER, STRANGER])
def test_terminal_statuses_accept_nothing(status: Status, actor: str) -> None:
    assert EXPECTED[status] == {}
    for action in ACTIONS:
        with pytest.raises(Refused) as refused:
            apply(record(status), action, actor, ADDRESSEE)
        assert refused.value.code in TABLE_CODES
