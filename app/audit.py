"""`passport log verify`: an auditor that trusts nothing but the log's public key.

It fetches the signed checkpoints and every entry (from a running service, or from an export file), rebuilds
the Merkle tree itself, and checks: each checkpoint's signature and that its root is the root of the leaves;
that any two checkpoints are consistent (no fork: the log only grew); that each entry, rebuilt from the event
as it stands now, still hashes to the leaf the log committed to (an event edited in the database shows up
here, named by its leaf index and event id); and, against a service, that its inclusion and consistency proofs
verify. Every finding names the leaf or checkpoint that is wrong.

A key that is not a regulator's reads only the events its organisation may see: the other leaves come as hashes,
which still rebuild the tree and check every checkpoint and proof, but not the events behind them. A full audit
uses a regulator's key or an export.
"""

from __future__ import annotations

import base64
import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.domain import merkle
from app.domain.checkpoint import NoteError, note_signatures, open_note, parse_checkpoint
from app.domain.witness import VerifierKey, WitnessError, cosignatures

PAGE = 1_000


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _b64_or_none(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


class Source(Protocol):
    def log_key(self) -> dict[str, Any]: ...
    def checkpoints(self) -> list[dict[str, Any]]: ...
    def entries(self, start: int, end: int) -> tuple[list[bytes | None], list[bytes]]: ...
    def inclusion(self, index: int, size: int) -> list[bytes] | None: ...
    def consistency(self, first: int, second: int) -> list[bytes] | None: ...


class ServiceSource:
    """A running Passport service."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("the service URL must be http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    def _get(self, path: str, **params: object) -> Any:
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - checked in __init__
            return json.loads(response.read())

    def log_key(self) -> dict[str, Any]:
        return dict(self._get("/.well-known/passport-log-key"))

    def checkpoints(self) -> list[dict[str, Any]]:
        self._get("/v1/log/checkpoint")  # ask for a fresh one first
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self._get("/v1/log/checkpoints", after=after, limit=PAGE)["checkpoints"]
            found.extend(page)
            if len(page) < PAGE:
                return found
            after = page[-1]["id"]

    def entries(self, start: int, end: int) -> tuple[list[bytes | None], list[bytes]]:
        body = self._get("/v1/log/entries", start=start, end=end)
        return [_b64_or_none(e) for e in body["entries"]], [_b64(h) for h in body["leaf_hashes"]]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        body = self._get("/v1/log/proof/inclusion", leaf_index=index, tree_size=size)
        return [_b64(p) for p in body["audit_path"]]

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = self._get("/v1/log/proof/consistency", first=first, second=second)
        return [_b64(p) for p in body["proof"]]


class ExportSource:
    """An export written by `passport log export` (no proofs: the tree is rebuilt from the entries)."""

    def __init__(self, path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            self.data = json.load(handle)

    def log_key(self) -> dict[str, Any]:
        return dict(self.data["log_key"])

    def checkpoints(self) -> list[dict[str, Any]]:
        return list(self.data["checkpoints"])

    def entries(self, start: int, end: int) -> tuple[list[bytes | None], list[bytes]]:
        rows = self.data["entries"][start:end]
        return [_b64_or_none(r["leaf"]) for r in rows], [_b64(r["leaf_hash"]) for r in rows]

    def inclusion(self, index: int, size: int) -> None:
        return None

    def consistency(self, first: int, second: int) -> None:
        return None


# What the report counts, plural (as ``checked`` names them) and singular: "1 leaf", never "1 leaves".
_SINGULAR = {"checkpoints": "checkpoint", "leaves": "leaf", "proofs": "proof", "findings": "finding"}


def _counted(number: int, what: str) -> str:
    """``what`` names things in the plural ("leaves withheld from this key"); one of them is named singular."""
    if number == 1:
        words = what.split(" ")
        at = next((i for i, word in enumerate(words) if word in _SINGULAR), None)
        if at is not None:
            what = " ".join([*words[:at], _SINGULAR[words[at]], *words[at + 1 :]])
    return f"{number} {what}"


@dataclass
class Report:
    findings: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was established beyond the counts (the witnessed head)

    def bad(self, message: str) -> None:
        self.findings.append(message)

    @property
    def ok(self) -> bool:
        return not self.findings

    def text(self) -> str:
        counts = ", ".join(_counted(v, k) for k, v in self.checked.items())
        failed = _counted(len(self.findings), "findings")
        head = f"log verified: {counts}" if self.ok else f"LOG VERIFICATION FAILED ({failed})"
        return "\n".join([head, *(f"  * {n}" for n in self.notes), *(f"  - {f}" for f in self.findings)])


def _event_id(leaf: bytes) -> object:
    try:
        return json.loads(leaf).get("event_id")
    except (ValueError, AttributeError):
        return None


def _pages(size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, size, PAGE):
        yield start, min(size, start + PAGE)


def audit(
    source: Source,
    *,
    pinned_key: str | None = None,
    sample: int = 64,
    witnesses: Sequence[VerifierKey] = (),
    quorum: int | None = None,
) -> Report:
    """Check the log; with ``witnesses``, also that a checkpoint is cosigned by ``quorum`` of them (all of them
    unless given): the newest such checkpoint is the witnessed head, and every checkpoint the source shows must be
    consistent with it like with any other (docs/witnesses.md)."""
    report = Report()
    key = source.log_key()
    if pinned_key is not None and key.get("verifier_key") != pinned_key:
        report.bad("the service's log key is not the pinned verifier key")
        return report
    name, public = key["name"], _b64(key["public_key"])

    heads: list[tuple[int, int, bytes]] = []  # (checkpoint id, size, root)
    witnessed: tuple[int, int, list[str]] | None = None  # (checkpoint id, size, cosigners) of the newest with quorum
    needed = len(witnesses) if quorum is None else quorum
    for cp in source.checkpoints():
        label = f"checkpoint {cp['id']} (size {cp['tree_size']})"
        try:
            body = open_note(cp["note"], name, public)
            signed = parse_checkpoint(body)
        except (NoteError, ValueError) as error:
            report.bad(f"{label}: signature or format is wrong: {error}")
            continue
        if signed.origin != name or signed.size != cp["tree_size"] or signed.root != _b64(cp["root_hash"]):
            report.bad(f"{label}: the signed note does not say what the checkpoint fields say")
            continue
        heads.append((cp["id"], signed.size, signed.root))
        if witnesses:
            try:
                found = cosignatures(body, note_signatures(cp["note"])[1], witnesses)
            except WitnessError as error:
                report.bad(f"{label}: {error}")
                continue
            if len(found) >= needed and (witnessed is None or signed.size >= witnessed[1]):
                witnessed = (cp["id"], signed.size, sorted(c.witness.name for c in found))
    report.checked["checkpoints"] = len(heads)
    if not heads:
        report.bad("no valid checkpoint to audit against")
        return report
    if witnesses:
        if witnessed is None:
            report.bad(f"no checkpoint is cosigned by {needed} of the {len(witnesses)} witnesses given")
        else:
            newest = max(size for _, size, _ in heads)
            report.notes.append(
                f"witnessed: checkpoint {witnessed[0]} (size {witnessed[1]}) cosigned by {len(witnessed[2])} of "
                f"{len(witnesses)} witnesses (quorum {needed}): {', '.join(witnessed[2])}"
                + (
                    f"; the {newest - witnessed[1]} leaves after it are not witnessed yet"
                    if newest > witnessed[1]
                    else ""
                )
            )
    size = max(s for _, s, _ in heads)

    nodes: dict[tuple[int, int], bytes] = {}
    committed: list[bytes] = []
    roots_at: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    wanted_sizes = {s for _, s, _ in heads}
    withheld = 0
    for start, end in _pages(size):
        leaves, hashes = source.entries(start, end)
        if len(leaves) != end - start or len(hashes) != end - start:
            report.bad(f"entries {start}..{end}: the source returned {len(leaves)} of {end - start}")
            return report
        for offset, (leaf, logged) in enumerate(zip(leaves, hashes, strict=True)):
            index = start + offset
            if leaf is None:  # not this key's to read: the tree is still built from the committed hash
                withheld += 1
            elif merkle.leaf_hash(leaf) != logged:
                report.bad(f"leaf {index} (event {_event_id(leaf)}): the event no longer matches what the log recorded")
            committed.append(logged)
            for position, value in merkle.completed_nodes(index, logged, nodes):
                nodes[position] = value
            if index + 1 in wanted_sizes:
                roots_at[index + 1] = merkle.range_hash(0, index + 1, nodes)
    report.checked["leaves"] = len(committed)
    if withheld:
        report.checked["leaves withheld from this key (hash checked, content not)"] = withheld

    by_size: dict[int, tuple[int, bytes]] = {}
    for checkpoint_id, tree_size, root in sorted(heads, key=lambda h: (h[1], h[0])):
        if roots_at.get(tree_size) != root:
            report.bad(f"checkpoint {checkpoint_id} (size {tree_size}): its root is not the root of the log's leaves")
        earlier = by_size.get(tree_size)
        if earlier is not None and earlier[1] != root:
            report.bad(f"checkpoints {earlier[0]} and {checkpoint_id}: two different roots for size {tree_size} (fork)")
        by_size.setdefault(tree_size, (checkpoint_id, root))

    ordered = [(s, head) for s, head in sorted(by_size.items()) if s > 0]  # nothing to prove about an empty log
    for (first, (first_id, first_root)), (second, (second_id, second_root)) in itertools.pairwise(ordered):
        proof = source.consistency(first, second)
        if proof is None:
            continue
        try:
            merkle.verify_consistency(first, second, first_root, second_root, proof)
        except merkle.ProofError as error:
            report.bad(f"checkpoints {first_id} -> {second_id}: not consistent ({error}): the log was rewritten")
    report.checked["consistency proofs"] = max(0, len(ordered) - 1)

    if not ordered:
        return report
    latest_size, (_, latest_root) = ordered[-1]
    step = max(1, latest_size // sample)
    checked = 0
    for index in sorted({*range(0, latest_size, step), latest_size - 1}):
        path = source.inclusion(index, latest_size)
        if path is None:
            break
        checked += 1
        try:
            merkle.verify_inclusion(committed[index], index, latest_size, path, latest_root)
        except merkle.ProofError as error:
            report.bad(f"leaf {index}: its inclusion proof does not verify ({error})")
    report.checked["inclusion proofs"] = checked
    return report
