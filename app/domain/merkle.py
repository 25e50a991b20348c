"""The log's Merkle tree: RFC 9162 (Certificate Transparency 2.0) §2.1, over SHA-256.

Hashing (§2.1.1): a leaf hashes as SHA-256(0x00 || leaf), an interior node as SHA-256(0x01 || left || right), and
the empty tree as MTH({}) = SHA-256(""). Proofs are built as the RFC's recursive definitions define them (inclusion
PATH, §2.1.3.1; consistency PROOF/SUBPROOF, §2.1.4.1) and checked with the RFC's verification algorithms (§2.1.3.2,
§2.1.4.2). Verification refuses, with one ``ProofError``, everything those algorithms do not accept: a hash that is not
32 bytes, a leaf index not below the tree size, a first size of 0 (§2.1.4.2 requires 0 < first < second; unlike
transparency-dev/merkle, which treats size 0 as consistent with anything) or above the second, and an empty proof
between different sizes. Trees of equal size are consistent only with an empty proof and equal roots.

Storage. The service stores complete subtrees only: node ``(level, index)`` is MTH of the leaves
``[index * 2**level, (index + 1) * 2**level)``, written once, when its last leaf is appended (``completed_nodes``).
Every range whose hash a root or a proof needs is one the RFC's recursion reaches (split ``[s, e)`` at ``s + k``, k the
largest power of two smaller than ``e - s``), and such a range is a handful of stored nodes:

    Lemma. Every range [s, e) reached from [0, n) has s divisible by the smallest power of two >= e - s.
    True for [0, n). For a reached [s, e) with m = e - s > 1 we have k < m <= 2k, so 2k divides s. The left part
    [s, s + k) has size k and k divides s: one complete subtree. The right part [s + k, e) has size m - k <= k, and
    k divides s + k.

So with m = 2**a1 + 2**a2 + ... (a1 > a2 > ...), a reached range is the complete subtrees of sizes 2**a1, 2**a2, ...
laid left to right (``aligned``), and the recursion gives MTH(D[s:e]) = HASH(0x01 || T1 || HASH(0x01 || T2 || ...)),
which ``range_hash`` folds from the right. A proof has at most one range that is not itself a complete subtree (the
one sibling that reaches the tree's right edge; once the walk leaves that edge every sibling below is complete), so
the stored nodes a proof or root needs number at most 2 * bit_length(size).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
"""A stored node: (level, index), covering leaves [index * 2**level, (index + 1) * 2**level)."""


class ProofError(ValueError):
    """A proof, or a request for one, that RFC 9162 §2.1 does not accept; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The RFC's k: the largest power of two smaller than ``size`` (> 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH (§2.1.1) of a list of leaf hashes, by the RFC's recursion: the reference for tests and small trees."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = _split(len(leaf_hashes))
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def aligned(start: int, end: int) -> list[Node]:
    """The stored nodes, left to right, whose right fold is MTH(D[start:end]); ValueError for a misaligned range."""
    if start < 0 or end < start:
        raise ValueError(f"[{start}, {end}) is not a range of leaves")
    nodes: list[Node] = []
    position, size = start, end - start
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            if position % (1 << level):
                raise ValueError(
                    f"[{start}, {end}) is not made of complete subtrees: {position} is not a multiple of {1 << level}"
                )
            nodes.append((level, position >> level))
            position += 1 << level
    return nodes


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from stored nodes; KeyError names a node that ``nodes`` lacks."""
    parts = aligned(start, end)
    if not parts:
        return EMPTY_ROOT
    value = nodes[parts[-1]]
    for part in reversed(parts[:-1]):
        value = node_hash(nodes[part], value)
    return value


def root_nodes(size: int) -> set[Node]:
    return set(aligned(0, size))


# Proof generation. Both walks follow the RFC's recursion over leaf ranges and return, in proof order, the ranges
# whose MTH the proof lists.


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(index, D[size]) (§2.1.3.1) as ranges, leaf upwards."""
    if size < 0 or not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    ranges = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _proof_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(first, D[second]) = SUBPROOF(first, D[second], true) (§2.1.4.1) as ranges, in proof order."""
    if first > second:
        raise ProofError(f"first tree size {first} is larger than second tree size {second}")
    if first <= 0:
        raise ProofError(f"a consistency proof from tree size {first} is refused: RFC 9162 needs 0 < first")
    ranges = []
    start, end, whole = 0, second, True
    while first != end:
        k = _split(end - start)
        if first <= start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _nodes_of(ranges: list[tuple[int, int]]) -> set[Node]:
    return {node for start, end in ranges for node in aligned(start, end)}


def inclusion_nodes(index: int, size: int) -> set[Node]:
    """Every stored node ``inclusion_proof(index, size, ...)`` reads."""
    return _nodes_of(_path_ranges(index, size))


def consistency_nodes(first: int, second: int) -> set[Node]:
    """Every stored node ``consistency_proof(first, second, ...)`` reads."""
    return _nodes_of(_proof_ranges(first, second))


def inclusion_proof(index: int, size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    return [range_hash(start, end, nodes) for start, end in _path_ranges(index, size)]


def consistency_proof(first: int, second: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    return [range_hash(start, end, nodes) for start, end in _proof_ranges(first, second)]


# Appending.


def completed_inputs(index: int) -> set[Node]:
    """The stored left siblings ``completed_nodes(index, ...)`` reads: one per trailing 1 bit of ``index``."""
    inputs = set()
    level = 0
    while index >> level & 1:
        inputs.add((level, (index >> level) - 1))
        level += 1
    return inputs


def completed_nodes(index: int, leaf: bytes, nodes: Mapping[Node, bytes]) -> list[tuple[Node, bytes]]:
    """The nodes that become complete when leaf hash ``leaf`` is appended at ``index``, bottom up."""
    if len(leaf) != HASH_SIZE:
        raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
    if index < 0:
        raise ValueError(f"leaf index {index} is negative")
    completed = [((0, index), leaf)]
    value, level = leaf, 0
    while index >> level & 1:
        value = node_hash(nodes[(level, (index >> level) - 1)], value)
        level += 1
        completed.append(((level, index >> level), value))
    return completed


# Verification, exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 write it.


def _require_hash(what: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {size}")


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root`` (§2.1.3.2)."""
    _require_hash("leaf hash", leaf_hash)
    _require_hash("root hash", root)
    for position, element in enumerate(proof):
        _require_hash(f"inclusion proof element {position}", element)
    if index < 0 or size < 0:
        raise ProofError(f"leaf index {index} and tree size {size} must not be negative")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for element in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof has {len(proof)} elements, more than leaf {index} of a tree of size {size} has"
            )
        if fn & 1 or fn == sn:
            r = node_hash(element, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof has {len(proof)} elements, fewer than leaf {index} of a tree of size {size} needs"
        )
    if r != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of the tree of size {size}")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``second`` leaves extends the tree of ``first`` leaves (§2.1.4.2)."""
    _require_hash("first root hash", first_root)
    _require_hash("second root hash", second_root)
    for position, element in enumerate(proof):
        _require_hash(f"consistency proof element {position}", element)
    if first < 0 or second < 0:
        raise ProofError(f"tree sizes {first} and {second} must not be negative")
    if first > second:
        raise ProofError(f"first tree size {first} is larger than second tree size {second}")
    if first == 0:
        raise ProofError("a consistency proof from tree size 0 is refused: RFC 9162 needs 0 < first")
    if first == second:
        if proof:
            raise ProofError(f"trees of equal size {first} need an empty consistency proof, got {len(proof)} elements")
        if first_root != second_root:
            raise ProofError(f"trees of equal size {first} have different roots")
        return
    if not proof:
        raise ProofError(f"consistency proof from size {first} to size {second} is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = bytes(path[0])
    for element in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof has {len(proof)} elements, more than sizes {first} and {second} need")
        if fn & 1 or fn == sn:
            fr = node_hash(element, fr)
            sr = node_hash(element, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof has {len(proof)} elements, fewer than sizes {first} and {second} need")
    if fr != first_root:
        raise ProofError(f"consistency proof does not lead to the root of the tree of size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not lead to the root of the tree of size {second}")
