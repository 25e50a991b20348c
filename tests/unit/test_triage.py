"""Triage: the serials one slip away from a scanned one, the distance between two scans, and the clone signals
(impossible travel, too many clients) at and around their thresholds.

Pure domain: no database, no HTTP, no clock. Expected values are written out here (the serial alphabet and the
look-alike pairs as a twin of the code's tables), never read from app.domain.triage.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.triage import CloneSignal, Sighting, clone_signals, distance_km, near_serials

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # our serials: no 0/O, no 1/I, upper case
CSET82 = set("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
KM_PER_DEGREE = 6371.0 * math.pi / 180  # along a meridian, on the mean Earth sphere: 111.19492664455873 km
T0 = datetime(2026, 5, 17, 10, 0, tzinfo=UTC)


def others(excluded: str) -> list[str]:
    return [c for c in ALPHABET if c not in excluded]


# --------------------------------------------------------------------------------------------- near serials


def test_one_character_serial_every_candidate_in_order() -> None:
    # swapped case first, then every other character of the alphabet in its place; dropping it leaves nothing.
    assert near_serials("A") == ["a", *others("A")]


def test_two_character_serial_every_candidate_in_order() -> None:
    assert near_serials("AB") == [
        "ab",  # case swapped
        "A8",  # look-alikes: B -> 8
        *[c + "B" for c in others("A")],  # first character replaced
        "BA",  # neighbours transposed
        "B",  # first character dropped
        *["A" + c for c in others("B8")],  # second character replaced ("A8" is already listed)
        "A",  # second character dropped
    ]


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        ("0", "O"),
        ("O", "0"),
        ("1", "I"),
        ("I", "1"),
        ("5", "S"),
        ("S", "5"),
        ("8", "B"),
        ("B", "8"),
        ("2", "Z"),
        ("Z", "2"),
    ],
)
def test_look_alike_pairs(serial: str, expected: str) -> None:
    candidates = near_serials(serial)
    # A digit has no case: its look-alike comes first; a letter's comes right after its lower case.
    assert candidates[: 2 if serial.isalpha() else 1] == (
        [serial.lower(), expected] if serial.isalpha() else [expected]
    )


@pytest.mark.parametrize("char", ["A", "C", "7", "Q"])
def test_characters_without_a_look_alike_are_kept(char: str) -> None:
    assert near_serials(char)[:2] == ([char.lower(), *others(char)[:1]] if char.isalpha() else others(char)[:2])


def test_a_mixed_case_serial_is_tried_upper_cased_then_case_swapped() -> None:
    assert near_serials("aB")[:3] == ["AB", "Ab", "A8"]


def test_look_alikes_are_read_on_the_upper_cased_serial() -> None:
    # "o1s" upper-cased is "O1S", whose look-alikes are "0I5".
    assert near_serials("o1s")[:2] == ["O1S", "0I5"]
    assert near_serials("b")[:2] == ["B", "8"]


def test_every_look_alike_of_a_serial_is_swapped_at_once() -> None:
    assert near_serials("OI5B2")[:2] == ["oi5b2", "01S8Z"]


def test_transpositions_of_every_neighbour_pair() -> None:
    candidates = near_serials("ABCD")
    for swapped in ("BACD", "ACBD", "ABDC"):
        assert swapped in candidates
    assert "DBCA" not in candidates  # not neighbours


def test_dropped_characters_at_every_position() -> None:
    candidates = near_serials("ABCD")
    for dropped in ("BCD", "ACD", "ABD", "ABC"):
        assert dropped in candidates
    assert "AB" not in candidates  # two slips, not one


def test_replacements_use_only_our_alphabet() -> None:
    candidates = set(near_serials("AB"))
    assert "0B" not in candidates
    assert "IB" not in candidates
    assert "aB" not in candidates  # a lower-case slip is only the whole swapped case


def test_the_serial_itself_is_never_a_candidate() -> None:
    for serial in ("ABC", "A", "0", "7Q2K9M4XW8RT"):
        assert serial not in near_serials(serial)


def test_candidates_are_unique() -> None:
    candidates = near_serials("AABB")
    assert len(candidates) == len(set(candidates))


def test_candidates_stay_within_the_82_set_and_20_characters() -> None:
    # A scanned serial may hold characters a candidate cannot: those candidates are left out, the rest kept.
    candidates = near_serials("A B")
    assert candidates
    assert all(set(c) <= CSET82 for c in candidates)
    assert "a b" not in candidates
    assert "A2B" in candidates
    assert "AB" in candidates  # the space dropped


def test_a_serial_too_long_for_gs1_keeps_only_candidates_of_20_characters() -> None:
    assert near_serials("A" * 21) == ["A" * 20]
    assert {len(c) for c in near_serials("AB" * 10)} == {19, 20}


def test_an_empty_candidate_is_never_looked_up() -> None:
    assert "" not in near_serials("A")
    assert "" not in near_serials("a")


def test_at_most_600_candidates_by_default() -> None:
    long_serial = "ABCDEFGHJKLMNPQRSTUV"  # 20 characters: 20 * 31 replacements alone are 620
    assert len(near_serials(long_serial)) == 600
    assert near_serials(long_serial, limit=601) == near_serials(long_serial, limit=700)[:601]
    assert len(near_serials(long_serial, limit=10_000)) > 600


def test_the_limit_keeps_the_first_candidates() -> None:
    assert near_serials("7Q2K9M4XW8RT", limit=5) == near_serials("7Q2K9M4XW8RT")[:5]
    assert near_serials("7Q2K9M4XW8RT", limit=0) == []


def test_a_typical_serial_has_all_its_candidates_under_the_limit() -> None:
    # 12 characters: 1 lower case + 12 * 31 replacements + 11 transpositions + 12 drops, less the duplicates.
    candidates = near_serials("7Q2K9M4XW8RT")
    assert 350 < len(candidates) < 600
    assert candidates[0] == "7q2k9m4xw8rt"


# --------------------------------------------------------------------------------------------- distances


def at(lat: float | None, lon: float | None, seconds: float = 0, client: str = "c1") -> Sighting:
    return Sighting(T0 + timedelta(seconds=seconds), client, lat, lon)


def law_of_cosines_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """An independent formula for the same great circle (fine for distances far from zero)."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    return 6371.0 * math.acos(math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))


def test_one_degree_along_a_meridian() -> None:
    assert distance_km(at(0, 0), at(1, 0)) == pytest.approx(111.19492664455873, rel=1e-12)
    assert distance_km(at(45, 10), at(46, 10)) == pytest.approx(KM_PER_DEGREE, rel=1e-12)


def test_one_degree_along_the_equator_and_shorter_nearer_the_pole() -> None:
    assert distance_km(at(0, 0), at(0, 1)) == pytest.approx(KM_PER_DEGREE, rel=1e-12)
    assert distance_km(at(60, 0), at(60, 1)) == pytest.approx(law_of_cosines_km(60, 0, 60, 1), rel=1e-9)
    assert distance_km(at(60, 0), at(60, 1)) < 0.51 * KM_PER_DEGREE


def test_a_quarter_and_half_of_the_earth() -> None:
    assert distance_km(at(0, 0), at(0, 90)) == pytest.approx(6371.0 * math.pi / 2, rel=1e-12)
    assert distance_km(at(0, 0), at(90, 0)) == pytest.approx(6371.0 * math.pi / 2, rel=1e-12)
    assert distance_km(at(0, 0), at(0, 180)) == pytest.approx(6371.0 * math.pi, rel=1e-12)
    assert distance_km(at(90, 0), at(-90, 0)) == pytest.approx(6371.0 * math.pi, rel=1e-12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((48.8566, 2.3522), (51.5074, -0.1278)),  # Paris - London, about 344 km
        ((31.2304, 121.4737), (39.9042, 116.4074)),  # Shanghai - Beijing, about 1068 km
        ((-33.8688, 151.2093), (40.7128, -74.0060)),  # Sydney - New York
        ((10, -170), (-20, 170)),  # across the antimeridian
    ],
)
def test_distances_agree_with_the_law_of_cosines(a: tuple[float, float], b: tuple[float, float]) -> None:
    km = distance_km(at(*a), at(*b))
    assert km == pytest.approx(law_of_cosines_km(*a, *b), rel=1e-9)
    assert distance_km(at(*b), at(*a)) == pytest.approx(km, rel=1e-12)


def test_paris_london() -> None:
    assert distance_km(at(48.8566, 2.3522), at(51.5074, -0.1278)) == pytest.approx(343.56, abs=0.01)


def test_the_same_place_is_zero_km() -> None:
    assert distance_km(at(31.2, 121.5), at(31.2, 121.5)) == 0.0


@pytest.mark.parametrize(("lat", "lon"), [(None, 1.0), (1.0, None), (None, None)])
def test_a_distance_needs_both_coordinates_of_both_sightings(lat: float | None, lon: float | None) -> None:
    with pytest.raises(AssertionError):
        distance_km(at(lat, lon), at(0, 0))
    with pytest.raises(AssertionError):
        distance_km(at(0, 0), at(lat, lon))


# --------------------------------------------------------------------------------------------- clone signals


def north(km: float) -> float:
    """The latitude that lies ``km`` north of the equator on the same meridian."""
    return km / KM_PER_DEGREE


def travel(km: float, seconds: float, **limits: float) -> list[CloneSignal]:
    defaults: dict[str, float] = {"max_speed_kmh": 900.0, "max_clients": 5}
    defaults.update(limits)
    return clone_signals(
        [at(0, 0, 0, "c1"), at(north(km), 0, seconds, "c2")],
        max_speed_kmh=defaults["max_speed_kmh"],
        max_clients=int(defaults["max_clients"]),
        **({"min_distance_km": defaults["min_distance_km"]} if "min_distance_km" in defaults else {}),
    )


def reasons(signals: list[CloneSignal]) -> list[str]:
    return [s.reason for s in signals]


def test_no_sightings_no_signal() -> None:
    assert clone_signals([], max_speed_kmh=900, max_clients=5) == []


def test_one_sighting_no_signal() -> None:
    assert clone_signals([at(0, 0)], max_speed_kmh=900, max_clients=5) == []


def test_far_apart_within_minutes_is_impossible_travel() -> None:
    signals = clone_signals(
        [at(0, 0, 0, "c1"), at(1, 0, 600, "c2")], max_speed_kmh=100, max_clients=5
    )  # 111.2 km in 10 minutes: 667 km/h
    assert signals == [
        CloneSignal(
            "impossible_travel",
            {"km": 111.2, "hours": 0.167, "from": "2026-05-17T10:00:00+00:00", "to": "2026-05-17T10:10:00+00:00"},
        )
    ]


def test_the_data_is_rounded_to_a_tenth_of_a_km_and_a_thousandth_of_an_hour() -> None:
    (signal,) = travel(123.456, 3723, max_speed_kmh=10)  # 1 h 2 min 3 s
    assert signal.data["km"] == 123.5
    assert signal.data["hours"] == 1.034
    assert signal.data["from"] == T0.isoformat()
    assert signal.data["to"] == (T0 + timedelta(seconds=3723)).isoformat()


@pytest.mark.parametrize(("km", "signalled"), [(49.9, False), (50.1, True), (500.0, True), (10.0, False)])
def test_scans_less_than_50_km_apart_are_never_impossible_travel_by_default(km: float, signalled: bool) -> None:
    # At the same instant any distance is "too fast": only the 50 km floor decides (a double scan in one city).
    assert reasons(travel(km, 0, max_speed_kmh=1)) == (["impossible_travel"] if signalled else [])


def test_the_distance_floor_is_inclusive_and_can_be_set() -> None:
    a, b = at(0, 0, 0, "c1"), at(north(30), 0, 0, "c2")
    km = distance_km(a, b)
    assert reasons(clone_signals([a, b], max_speed_kmh=1, max_clients=5, min_distance_km=km)) == ["impossible_travel"]
    assert clone_signals([a, b], max_speed_kmh=1, max_clients=5, min_distance_km=km + 1e-6) == []
    assert clone_signals([a, b], max_speed_kmh=1, max_clients=5) == []  # 30 km < the default 50 km


def test_the_speed_limit_is_strict() -> None:
    a, b = at(0, 0, 0, "c1"), at(north(200), 0, 3600, "c2")  # one hour apart: km/h is the distance
    km = distance_km(a, b)
    assert clone_signals([a, b], max_speed_kmh=km, max_clients=5) == []
    assert reasons(clone_signals([a, b], max_speed_kmh=km - 1e-6, max_clients=5)) == ["impossible_travel"]


@pytest.mark.parametrize(("seconds", "hours"), [(0, 0.0), (0.25, 0.0), (1, 0.0), (2, 0.001), (3600, 1.0)])
def test_time_between_scans_counts_as_at_least_one_second(seconds: float, hours: float) -> None:
    a, b = at(0, 0, 0, "c1"), at(north(100), 0, seconds, "c2")
    km = distance_km(a, b)
    effective_hours = max(seconds, 1) / 3600
    speed = km / effective_hours
    assert clone_signals([a, b], max_speed_kmh=speed * (1 + 1e-9), max_clients=5) == []
    (signal,) = clone_signals([a, b], max_speed_kmh=speed * (1 - 1e-9), max_clients=5)
    assert signal.data["hours"] == hours


def test_a_scan_one_second_after_is_as_fast_as_one_at_the_same_instant() -> None:
    km = 100.0
    speed_at_one_second = km * 3600
    assert reasons(travel(km, 0, max_speed_kmh=speed_at_one_second * 0.999)) == ["impossible_travel"]
    assert travel(km, 0, max_speed_kmh=speed_at_one_second * 1.001) == []
    assert travel(km, 1, max_speed_kmh=speed_at_one_second * 1.001) == []
    assert travel(km, 2, max_speed_kmh=speed_at_one_second / 2 * 1.001) == []
    assert reasons(travel(km, 2, max_speed_kmh=speed_at_one_second / 2 * 0.999)) == ["impossible_travel"]


def test_only_consecutive_sightings_are_compared() -> None:
    # Far from the first, but reached through a plausible middle stop: no impossible hop.
    trip = [at(0, 0, 0), at(north(60), 0, 3600), at(north(120), 0, 7200)]
    assert clone_signals(trip, max_speed_kmh=100, max_clients=5) == []
    assert reasons(clone_signals(trip, max_speed_kmh=50, max_clients=5)) == ["impossible_travel"]


def test_only_the_first_impossible_hop_is_reported() -> None:
    trip = [at(0, 0, 0), at(north(500), 0, 60), at(0, 0, 120), at(north(500), 0, 180)]
    signals = clone_signals(trip, max_speed_kmh=900, max_clients=5)
    assert len(signals) == 1
    assert signals[0].data["from"] == T0.isoformat()
    assert signals[0].data["to"] == (T0 + timedelta(seconds=60)).isoformat()


def test_a_later_hop_is_found_when_the_first_ones_are_plausible() -> None:
    trip = [at(0, 0, 0), at(0, 0, 60), at(north(500), 0, 120)]
    (signal,) = clone_signals(trip, max_speed_kmh=900, max_clients=5)
    assert signal.data["from"] == (T0 + timedelta(seconds=60)).isoformat()


@pytest.mark.parametrize(("lat", "lon"), [(None, None), (10.0, None), (None, 10.0)])
def test_sightings_without_a_full_position_are_skipped(lat: float | None, lon: float | None) -> None:
    # The hop is measured between the located sightings around the unlocated one.
    trip = [at(0, 0, 0, "c1"), at(lat, lon, 30, "c2"), at(north(500), 0, 60, "c3")]
    (signal,) = clone_signals(trip, max_speed_kmh=900, max_clients=5)
    assert signal.reason == "impossible_travel"
    assert signal.data["hours"] == round(60 / 3600, 3)


@pytest.mark.parametrize(
    ("clients", "threshold", "signalled"), [(3, 3, False), (4, 3, True), (2, 3, False), (1, 0, True)]
)
def test_more_distinct_clients_than_the_limit(clients: int, threshold: int, signalled: bool) -> None:
    sightings = [at(None, None, i, f"client-{i}") for i in range(clients)]
    signals = clone_signals(sightings, max_speed_kmh=900, max_clients=threshold)
    expected = [CloneSignal("many_clients", {"clients": clients, "threshold": threshold})] if signalled else []
    assert signals == expected


def test_clients_are_counted_once_however_often_they_scan() -> None:
    sightings = [at(None, None, i, f"client-{i % 2}") for i in range(10)]
    assert clone_signals(sightings, max_speed_kmh=900, max_clients=2) == []
    assert clone_signals(sightings, max_speed_kmh=900, max_clients=1) == [
        CloneSignal("many_clients", {"clients": 2, "threshold": 1})
    ]


def test_both_signals_travel_first() -> None:
    sightings = [at(0, 0, 0, "a"), at(north(1000), 0, 60, "b"), at(None, None, 90, "c")]
    assert reasons(clone_signals(sightings, max_speed_kmh=900, max_clients=2)) == ["impossible_travel", "many_clients"]
