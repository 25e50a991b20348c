"""The CBV 2.0 pre-hash string of a plain ObjectEvent, written directly instead of by the library's tree walk.

Most captured events are plain ObjectEvents (a shipment, a receipt, a sale: time, EPCs, action, bizStep,
disposition, locations, source and destination parties). For such an event GS1's ``epcis-event-hash-generator``
(the reference, see :mod:`.hash`) turns the event into its ``(name, text, children)`` tree (``_json_to_py``), adjusts
it to the XML model (``deep_structure_correction``) and walks it in ``PROP_ORDER``
(``_recurse_through_children_in_order``, ``_gather_elements_not_in_order``), three quarters of the hash's time. What
those steps produce for this one shape, read off the library's code:

- ``eventType=`` and the event's type; then, in ``PROP_ORDER``, ``eventTime=`` (the library's timestamp
  normalisation), ``eventTimeZoneOffset=``, ``epcList`` with its ``epc=`` entries sorted, ``action=``,
  ``bizStep=``, ``disposition=``, ``readPoint`` and ``bizLocation`` each with ``id=`` (values through the library's
  ``_canonize_value``);
- the source and destination lists are not consumed by the ordered walk (their order entry names a pair the
  corrected tree never holds), so they come last, as the library's leftovers: each list's name and its entries, an
  entry's two fields in the order the event gives them, the entries sorted, the lists sorted by their text;
- ``eventID`` and ``recordTime`` are left out; every text is first replaced, as the library replaces bare words
  document-wide, by the one vocabulary IRI it ends (the ``replace`` the caller builds from the document's set).

:func:`pre_hash` answers None for any other event (another type, another field, a value that is not a non-empty
text, an empty list, an entry of another shape), which the caller hashes with the library as before. The strings are
proven equal to the library's, byte for byte, by ``tests/unit/test_epcis_hash_fast.py``: generated plain and
mixed documents (the real check: most of them take this path) and GS1's examples (only one of their events is plain).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_SCALARS = ("eventTimeZoneOffset", "action", "bizStep", "disposition")  # in PROP_ORDER, after epcList
_LOCATIONS = ("readPoint", "bizLocation")
_PARTIES = {"sourceList": "source", "destinationList": "destination"}
_IGNORED = frozenset({"type", "eventID", "recordTime"})  # read by the library, left out of the string
# an entry's field texts the library's extension test (``'{' in name and '/}' in name``, on a tuple) would match
_TUPLE_MARKS = frozenset({"{", "/}"})
_FIELDS = frozenset({"eventTime", "epcList", *_SCALARS, *_LOCATIONS, *_PARTIES, *_IGNORED})


class Replacements:
    """The library's bare-word replacement (``json_to_py._find_replacement_string_values``) for one document's set
    of vocabulary IRIs: a text becomes the one IRI that ends with ``-`` or ``/`` and the text; it stays as it is when
    none or several do.

    An IRI ending with a separator and a text ends with the text's last segment (what follows its last ``-`` or
    ``/``, the whole text when it has none), so the IRIs are kept by their own last segment and a text is compared
    with those of its segment only: memory linear in the IRIs' length (a table of every suffix after every separator
    grew with the square of a long IRI's: 200 MB for one of 20,000 slashes), each text's answer remembered."""

    def __init__(self, vocabulary: set[str]) -> None:
        self._by_last: dict[str, list[str]] = {}
        for iri in vocabulary:
            if "-" in iri or "/" in iri:  # an IRI without a separator ends no text so
                self._by_last.setdefault(_last_segment(iri), []).append(iri)
        self._answers: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        answer = self._answers.get(text)
        if answer is None:
            ends = ("-" + text, "/" + text)
            matches = [iri for iri in self._by_last.get(_last_segment(text), ()) if iri.endswith(ends)]
            answer = self._answers[text] = matches[0] if len(matches) == 1 else text
        return answer


def _last_segment(text: str) -> str:
    return text[max(text.rfind("-"), text.rfind("/")) + 1 :]


def pre_hash(
    event: Any,
    replace: Callable[[str], str],
    canonize: Callable[[str], str],
    fix_time: Callable[[str], str],
) -> str | None:
    """The pre-hash string of a plain ObjectEvent (see the module docstring), or None for any other event.
    ``canonize`` and ``fix_time`` are the library's value and timestamp normalisations (as :mod:`.hash` runs them)."""
    if not isinstance(event, dict) or event.get("type") != "ObjectEvent" or not _FIELDS.issuperset(event):
        return None
    if "eventTime" not in event or "action" not in event:
        return None  # without them the library treats the event's fields as user extensions

    def text(value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        stripped = replace(value).strip()
        return stripped or None

    kind = replace("ObjectEvent")
    moment = text(event["eventTime"])
    if moment is None:
        return None
    parts = ["eventType=", kind, "eventTime=", fix_time(moment)]
    if "eventTimeZoneOffset" in event:
        offset = text(event["eventTimeZoneOffset"])
        if offset is None:
            return None
        parts += ["eventTimeZoneOffset=", canonize(offset)]
    if "epcList" in event:
        epcs = event["epcList"]
        if not isinstance(epcs, list) or not epcs:
            return None
        entries = []
        for epc in epcs:
            value = text(epc)
            if value is None:
                return None
            entries.append("epc=" + canonize(value))
        parts.append("epcList")
        parts += sorted(entries)
    for name in _SCALARS[1:]:
        if name in event:
            value = text(event[name])
            if value is None:
                return None
            parts += [name, "=", canonize(value)]
    for name in _LOCATIONS:
        if name in event:
            location = event[name]
            if not isinstance(location, dict) or list(location) != ["id"]:
                return None
            value = text(location["id"])
            if value is None:
                return None
            parts += [name, "id=", canonize(value)]
    for name in ("eventID", "recordTime"):
        if name in event and not isinstance(event[name], str):
            return None
    lists = []
    for name, field in _PARTIES.items():
        if name not in event:
            continue
        party_list = event[name]
        if not isinstance(party_list, list) or not party_list:
            return None
        entries = []
        for entry in party_list:
            if not isinstance(entry, dict) or len(entry) != 2 or set(entry) != {"type", field}:
                return None
            written = []
            for key, value in entry.items():
                if not isinstance(value, str) or replace(value) in _TUPLE_MARKS:
                    return None
                part = text(value)
                if part is None:
                    return None
                written.append(f"{key}={canonize(part)}")
            entries.append("".join(written))
        lists.append(name + "".join(sorted(entries)))
    parts += sorted(lists)
    return "".join(parts)
