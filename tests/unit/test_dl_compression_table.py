"""A hand-written twin of dl_compression's TABLE_F (GS1 Digital Link compression, the AI value formats).

TABLE_F is module-level data, which mutmut does not mutate (it changes code inside functions only), so only a twin
notices an entry changed or dropped (issue 21).
"""

from __future__ import annotations

from app.domain.dl_compression import TABLE_F

# AI -> its parts: "N18" a fixed number of digits, "N..6" up to 6 digits, "X..20" up to 20 characters.
LITERAL = """
00 N18; 01 N14; 02 N14; 10 X..20; 11 N6; 12 N6; 13 N6; 15 N6; 16 N6; 17 N6; 20 N2; 21 X..20; 22 X..20;
240 X..30; 241 X..30; 242 N..6; 243 X..20; 250 X..30; 251 X..30; 253 N13 X..17; 254 X..20; 255 N13 N..12;
30 N..8; 37 N..8; 400 X..30; 401 X..30; 402 N17; 403 X..30; 420 X..20; 421 N3 X..9; 422 N3; 423 N3 N..12;
424 N3; 425 N3 N..12; 426 N3; 427 X..3; 7001 N13; 7002 X..30; 7003 N10; 7004 N..4; 7005 X..12; 7006 N6;
7007 N6 N..6; 7008 X..3; 7009 X..10; 7010 X..2; 7020 X..20; 7021 X..20; 7022 X..20; 7023 X..30; 710 X..20;
711 X..20; 712 X..20; 713 X..20; 714 X..20; 8001 N14; 8002 X..20; 8003 N14 X..16; 8004 X..30; 8005 N6;
8006 N18; 8007 X..24; 8008 N8 N..4; 8009 X..50; 8010 X..30; 8011 N..12; 8012 X..20; 8013 X..30; 8017 N18;
8018 N18; 8019 N..10; 8020 X..25; 8026 N18; 8030 X..90; 8110 X..70; 8111 N4; 8112 X..70; 8200 X..70; 90 X..30
"""


def twin() -> dict[str, tuple[tuple[str, int | None, int | None], ...]]:
    table = {}
    for entry in LITERAL.replace("\n", " ").split(";"):
        ai, *parts = entry.split()
        table[ai] = tuple((p[0], None, int(p[3:])) if p[1:3] == ".." else (p[0], int(p[1:]), None) for p in parts)
    for ai in range(410, 417):
        table[str(ai)] = (("N", 13, None),)
    for ai in range(3100, 3700):
        if ai % 10 <= 5:
            table[str(ai)] = (("N", 6, None),)
    for last in range(10):
        table[f"390{last}"] = table[f"392{last}"] = (("N", None, 15),)
        table[f"391{last}"] = table[f"393{last}"] = (("N", 3, None), ("N", None, 15))
        table[f"703{last}"] = (("N", 3, None), ("X", None, 27))
        table[f"723{last}"] = (("X", None, 30),)
        if last:
            table[f"9{last}"] = (("X", None, 90),)
    for last in range(4):
        table[f"394{last}"] = (("N", 4, None),)
    return table


def test_table_f_matches_its_twin() -> None:
    actual = {ai: tuple((p.kind, p.length, p.max) for p in parts) for ai, parts in TABLE_F.items()}
    expected = twin()
    assert set(actual) - set(expected) == set()
    assert set(expected) - set(actual) == set()
    assert actual == expected


def test_a_few_entries_by_hand() -> None:
    assert len(TABLE_F["253"]) == 2
    assert (TABLE_F["3103"][0].kind, TABLE_F["3103"][0].length) == ("N", 6)
    assert "3106" not in TABLE_F
    assert TABLE_F["90"][0].max == 30 and TABLE_F["91"][0].max == 90
