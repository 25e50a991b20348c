"""Every Merkle tree of 0 to 17 leaves (app/domain/merkle.py) against a naive RFC 9162 §2.1 reference written here.

Sizes 0 to 17 hold every boundary the large trees of test_merkle.py reach: 0, 1, 2 and 3 leaves, each power of two
up to 16 and its neighbours, the first and the last leaf of each tree. For each tree, every inclusion proof of every
leaf and every consistency proof between every pair of sizes is compared with the reference's, and verification must
accept exactly what the reference's own checker accepts, over the right proofs shown at every other index and size
and over corrupted proofs. Each refusal's text is pinned in full. It runs in about a second, so mutation testing
(scripts/mutate) runs it for each mutant instead of the large-tree tests (marked ``large_tree``), issue 21.

The reference is independent of the code under test: MTH is computed bottom up (pair the nodes of each level, carry
an odd last one up), which equals the RFC's recursion; PATH and PROOF are the RFC's recursive text over lists; the
checkers rebuild the root(s) a proof implies by following the same recursion, instead of the RFC's bit-walking
verification algorithm that ``verify_inclusion`` and ``verify_consistency`` implement.
"""

from __future__ import annotations

import hashlib

import pytest

from app.domain.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    ProofError,
    aligned,
    completed_inputs,
    completed_nodes,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hash,
    root_nodes,
    root_of,
    verify_consistency,
    verify_inclusion,
)

N = 17  # 16 + 1: five levels, every power of two up to 16 and the sizes either side


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def ref_node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def ref_mth(hashes: list[bytes]) -> bytes:
    """MTH bottom up: hash pairs level by level; an odd last node moves up unchanged."""
    if not hashes:
        return sha256(b"")
    level = list(hashes)
    while len(level) > 1:
        level = [ref_node(*level[i : i + 2]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    return level[0]


def ref_k(n: int) -> int:
    """The RFC's k: the largest power of two smaller than n."""
    return max(k for k in (1, 2, 4, 8, 16, 32) if k < n)


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    return [*ref_path(m, d[:k]), ref_mth(d[k:])] if m < k else [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], whole: bool) -> list[bytes]:
    if m == len(d):
        return [] if whole else [ref_mth(d)]
    k = ref_k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], whole), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_ranges(m: int, start: int, end: int, whole: bool) -> list[tuple[int, int]]:
    """The leaf ranges of SUBPROOF (``whole`` True or False) or, with ``whole`` None, of PATH."""
    n = end - start
    if whole is None and n == 1:
        return []
    if whole is not None and m == n:
        return [] if whole else [(start, end)]
    k = ref_k(n)
    if m < k or (whole is not None and m == k):
        return [*ref_ranges(m, start, start + k, whole), (start + k, end)]
    return [*ref_ranges(m - k, start + k, end, None if whole is None else False), (start, start + k)]


def ref_blocks(start: int, end: int) -> set[Node]:
    """The complete subtrees a reached range is made of: the largest aligned block first, then the rest."""
    blocks = set()
    while start < end:
        level = max(level for level in range(6) if start % (1 << level) == 0 and start + (1 << level) <= end)
        blocks.add((level, start >> level))
        start += 1 << level
    return blocks


def ref_path_root(m: int, n: int, leaf: bytes, proof: list[bytes]) -> bytes | None:
    """The root PATH(m, D[n]) = ``proof`` implies for ``leaf``; None when the proof has the wrong length."""
    if n == 1:
        return None if proof else leaf
    if not proof:
        return None
    k = ref_k(n)
    if m < k:
        below = ref_path_root(m, k, leaf, proof[:-1])
        return None if below is None else ref_node(below, proof[-1])
    below = ref_path_root(m - k, n - k, leaf, proof[:-1])
    return None if below is None else ref_node(proof[-1], below)


def ref_accepts_inclusion(leaf: bytes, m: int, n: int, proof: list[bytes], root: bytes) -> bool:
    if not all(len(value) == HASH_SIZE for value in [leaf, root, *proof]) or not 0 <= m < n:
        return False
    return ref_path_root(m, n, leaf, proof) == root


def ref_proof_roots(m: int, n: int, whole: bool, proof: list[bytes], first_root: bytes):
    """(old root, new root) that SUBPROOF(m, D[n], whole) = ``proof`` implies; None for a proof of the wrong length."""
    if m == n:
        if whole:
            return None if proof else (first_root, first_root)
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = ref_k(n)
    if m <= k:
        below = ref_proof_roots(m, k, whole, proof[:-1], first_root)
        return None if below is None else (below[0], ref_node(below[1], proof[-1]))
    below = ref_proof_roots(m - k, n - k, False, proof[:-1], first_root)
    return None if below is None else (ref_node(proof[-1], below[0]), ref_node(proof[-1], below[1]))


def ref_accepts_consistency(m: int, n: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    if not all(len(value) == HASH_SIZE for value in [first_root, second_root, *proof]) or not 0 < m <= n:
        return False
    if m == n and proof:
        return False
    return ref_proof_roots(m, n, True, proof, first_root) == (first_root, second_root)


# The trees: leaf hashes, and the nodes stored once n leaves are appended (grown through completed_nodes).

LEAVES = [ref_leaf(f"leaf {i}".encode()) for i in range(N)]
ROOTS = [ref_mth(LEAVES[:n]) for n in range(N + 1)]
OTHER = ref_leaf(b"other")


def stored(n: int) -> dict[Node, bytes]:
    """Every complete subtree of the first n leaves, from the reference."""
    return {
        (level, index): ref_mth(LEAVES[index << level : (index + 1) << level])
        for level in range(n.bit_length())
        for index in range(n >> level)
    }


STORES = [stored(n) for n in range(N + 1)]


def only(nodes: set[Node], n: int) -> dict[Node, bytes]:
    assert nodes <= STORES[n].keys(), f"{sorted(nodes - STORES[n].keys())} are not complete in a tree of size {n}"
    return {node: STORES[n][node] for node in nodes}


def flip(value: bytes, position: int = 0) -> bytes:
    return value[:position] + bytes([value[position] ^ 1]) + value[position + 1 :]


def corrupted(proof: list[bytes], extra: bytes) -> list[list[bytes]]:
    """Each element flipped, each dropped, one added at either end, the order reversed."""
    proofs = [[*proof[:i], flip(element, i % HASH_SIZE), *proof[i + 1 :]] for i, element in enumerate(proof)]
    proofs += [[*proof[:i], *proof[i + 1 :]] for i in range(len(proof))]
    proofs += [[*proof, extra], [extra, *proof]]
    if len(proof) > 1:
        proofs.append(proof[::-1])
    return proofs


# Hashing, roots, stored nodes.


def test_hashes_and_roots_equal_the_reference():
    assert leaf_hash(b"leaf 3") == LEAVES[3]
    assert leaf_hash(b"") == ref_leaf(b"")
    assert node_hash(LEAVES[0], LEAVES[1]) == ref_node(LEAVES[0], LEAVES[1]) != ref_node(LEAVES[1], LEAVES[0])
    assert EMPTY_ROOT == sha256(b"")
    for n in range(N + 1):
        assert root_of(LEAVES[:n]) == ROOTS[n]
        assert range_hash(0, n, only(root_nodes(n), n)) == ROOTS[n]
        assert root_nodes(n) == ref_blocks(0, n)


def test_appends_store_every_complete_subtree_bottom_up():
    store: dict[Node, bytes] = {}
    for index in range(N):
        inputs = completed_inputs(index)
        assert inputs == {(level, (index >> level) - 1) for level in range(6) if (index + 1) % (2 << level) == 0}
        completed = completed_nodes(index, LEAVES[index], {node: store[node] for node in inputs})
        assert [node for node, _ in completed] == [
            (level, index >> level) for level in range(6) if (index + 1) % (1 << level) == 0
        ]
        store.update(completed)
        assert store == STORES[index + 1]


def test_aligned_splits_every_range_the_rfc_reaches_and_refuses_the_others():
    for start in range(N + 1):
        for end in range(start, N + 1):
            size = end - start
            blocks = [level for level in reversed(range(6)) if size >> level & 1]
            offsets = [start + sum(1 << b for b in blocks[:i]) for i in range(len(blocks))]
            if all(offset % (1 << level) == 0 for offset, level in zip(offsets, blocks, strict=True)):
                nodes = [(level, offset >> level) for offset, level in zip(offsets, blocks, strict=True)]
                assert aligned(start, end) == nodes
                assert set(nodes) == ref_blocks(start, end)
                assert range_hash(start, end, STORES[N]) == ref_mth(LEAVES[start:end])
            else:
                offset, level = next((o, b) for o, b in zip(offsets, blocks, strict=True) if o % (1 << b) != 0)
                with pytest.raises(ValueError) as refused:
                    aligned(start, end)
                assert str(refused.value) == (
                    f"[{start}, {end}) is not made of complete subtrees: {offset} is not a multiple of {1 << level}"
                )


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (3, 2), (0, -1)])
def test_aligned_names_what_is_not_a_range(start, end):
    with pytest.raises(ValueError) as refused:
        aligned(start, end)
    assert str(refused.value) == f"[{start}, {end}) is not a range of leaves"


def test_range_hash_folds_from_the_right():
    # [0, 3) is the subtree of leaves 0-1, then leaf 2; the stored values here are arbitrary hashes.
    assert range_hash(0, 3, {(1, 0): LEAVES[0], (0, 2): LEAVES[1]}) == ref_node(LEAVES[0], LEAVES[1])
    assert range_hash(0, 7, {(2, 0): LEAVES[0], (1, 2): LEAVES[1], (0, 6): LEAVES[2]}) == ref_node(
        LEAVES[0], ref_node(LEAVES[1], LEAVES[2])
    )
    assert range_hash(2, 2, {}) == EMPTY_ROOT
    assert range_hash(4, 5, {(0, 4): OTHER}) == OTHER


# Inclusion.


def test_every_inclusion_proof_equals_the_rfc_path_from_the_nodes_it_lists():
    for n in range(1, N + 1):
        for m in range(n):
            nodes = inclusion_nodes(m, n)
            ranges = ref_ranges(m, 0, n, None)
            assert nodes == set().union(*(ref_blocks(s, e) for s, e in ranges))
            assert inclusion_proof(m, n, only(nodes, n)) == ref_path(m, LEAVES[:n])


def test_inclusion_verification_accepts_exactly_what_the_reference_accepts():
    for n in range(1, N + 1):
        for m in range(n):
            proof = ref_path(m, LEAVES[:n])
            verify_inclusion(LEAVES[m], m, n, proof, ROOTS[n])
            verify_inclusion(bytearray(LEAVES[m]), m, n, [bytearray(e) for e in proof], bytearray(ROOTS[n]))
            probes = [(LEAVES[m], m, n, wrong, ROOTS[n]) for wrong in corrupted(proof, ROOTS[n])]
            probes += [(LEAVES[m], j, n, proof, ROOTS[n]) for j in range(n + 1) if j != m]
            probes += [(LEAVES[j], j, n, proof, ROOTS[n]) for j in range(n) if j != m]
            probes += [(LEAVES[m], m, size, proof, ROOTS[size]) for size in range(N + 1) if size != n]
            probes += [(LEAVES[m], m, size, proof, ROOTS[n]) for size in (n - 1, n + 1, 2 * n) if size != n]
            probes += [(flip(LEAVES[m]), m, n, proof, ROOTS[n]), (LEAVES[m], m, n, proof, flip(ROOTS[n], 31))]
            for probe in probes:
                agree(ref_accepts_inclusion, verify_inclusion, probe)


def agree(reference, verify, args) -> None:  # type: ignore[no-untyped-def]
    """``verify`` accepts ``args`` exactly when the reference does, and otherwise refuses them with ProofError."""
    if reference(*args):
        verify(*args)
    else:
        with pytest.raises(ProofError):
            verify(*args)


# Consistency.


def test_every_consistency_proof_equals_the_rfc_proof_from_the_nodes_it_lists():
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            nodes = consistency_nodes(m, n)
            ranges = ref_ranges(m, 0, n, True)
            assert nodes == set().union(set(), *(ref_blocks(s, e) for s, e in ranges))
            assert consistency_proof(m, n, only(nodes, n)) == ref_subproof(m, LEAVES[:n], True)


def test_consistency_verification_accepts_exactly_what_the_reference_accepts():
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            proof = ref_subproof(m, LEAVES[:n], True)
            verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)
            verify_consistency(m, n, bytearray(ROOTS[m]), bytearray(ROOTS[n]), [bytearray(e) for e in proof])
            probes = [(m, n, ROOTS[m], ROOTS[n], wrong) for wrong in corrupted(proof, ROOTS[m])]
            probes += [(m, n, ROOTS[m], ROOTS[n], [*proof, ROOTS[n]]), (m, n, ROOTS[m], ROOTS[n], [])]
            probes += [(first, n, ROOTS[min(first, N)], ROOTS[n], proof) for first in range(n + 2) if first != m]
            probes += [(first, n, ROOTS[m], ROOTS[n], proof) for first in range(n + 2) if first != m]
            probes += [(m, second, ROOTS[m], ROOTS[second], proof) for second in range(N + 1) if second != n]
            probes += [(m, second, ROOTS[m], ROOTS[n], proof) for second in (m - 1, n + 1, 2 * n) if second != n]
            probes += [(m, n, ROOTS[n], ROOTS[m], proof), (m, n, flip(ROOTS[m], 31), ROOTS[n], proof)]
            probes += [(m, n, ROOTS[m], flip(ROOTS[n], 31), proof)]
            for probe in probes:
                agree(ref_accepts_consistency, verify_consistency, probe)


# Every refusal, in full.


def refusal(check, *args) -> str:
    with pytest.raises(ProofError) as refused:
        check(*args)
    return str(refused.value)


def test_inclusion_refusals_say_why():
    proof = ref_path(5, LEAVES[:13])
    leaf, root = LEAVES[5], ROOTS[13]
    assert refusal(verify_inclusion, leaf[:31], 5, 13, proof, root) == "leaf hash must be 32 bytes, got 31"
    assert refusal(verify_inclusion, "ab" * 16, 5, 13, proof, root) == "leaf hash must be 32 bytes, got str"
    assert refusal(verify_inclusion, leaf, 5, 13, proof, root + b"\0") == "root hash must be 32 bytes, got 33"
    assert refusal(verify_inclusion, leaf, 5, 13, proof, None) == "root hash must be 32 bytes, got NoneType"
    assert refusal(verify_inclusion, leaf, 5, 13, [proof[0], b""], root) == (
        "inclusion proof element 1 must be 32 bytes, got 0"
    )
    assert refusal(verify_inclusion, leaf, 5, 13, ["ab" * 16, *proof], root) == (
        "inclusion proof element 0 must be 32 bytes, got str"
    )
    assert refusal(verify_inclusion, leaf, -1, 13, proof, root) == (
        "leaf index -1 and tree size 13 must not be negative"
    )
    assert refusal(verify_inclusion, leaf, 0, -1, proof, root) == "leaf index 0 and tree size -1 must not be negative"
    assert refusal(verify_inclusion, leaf, 13, 13, proof, root) == "leaf index 13 is not below tree size 13"
    assert refusal(verify_inclusion, leaf, 0, 0, [], EMPTY_ROOT) == "leaf index 0 is not below tree size 0"
    assert refusal(verify_inclusion, leaf, 5, 13, [*proof, OTHER], root) == (
        "inclusion proof has 5 elements, more than leaf 5 of a tree of size 13 has"
    )
    assert refusal(verify_inclusion, leaf, 0, 1, [OTHER], leaf) == (
        "inclusion proof has 1 elements, more than leaf 0 of a tree of size 1 has"
    )
    assert refusal(verify_inclusion, leaf, 5, 13, proof[:-1], root) == (
        "inclusion proof has 3 elements, fewer than leaf 5 of a tree of size 13 needs"
    )
    assert refusal(verify_inclusion, leaf, 5, 13, proof, ROOTS[12]) == (
        "inclusion proof for leaf 5 does not lead to the root of the tree of size 13"
    )


def test_consistency_refusals_say_why():
    proof = ref_subproof(5, LEAVES[:13], True)
    first, second = ROOTS[5], ROOTS[13]
    check = verify_consistency
    assert refusal(check, 5, 13, first[:31], second, proof) == "first root hash must be 32 bytes, got 31"
    assert refusal(check, 5, 13, first, second + b"\0", proof) == "second root hash must be 32 bytes, got 33"
    assert refusal(check, 5, 13, "ab" * 16, second, proof) == "first root hash must be 32 bytes, got str"
    assert refusal(check, 5, 13, first, "ab" * 16, proof) == "second root hash must be 32 bytes, got str"
    assert refusal(check, 5, 13, first, second, [*proof[:2], b"x"]) == (
        "consistency proof element 2 must be 32 bytes, got 1"
    )
    assert refusal(check, -1, 13, first, second, proof) == "tree sizes -1 and 13 must not be negative"
    assert refusal(check, 0, -1, first, second, proof) == "tree sizes 0 and -1 must not be negative"
    assert refusal(check, 13, 5, second, first, proof) == "first tree size 13 is larger than second tree size 5"
    assert refusal(check, 0, 5, EMPTY_ROOT, first, proof) == (
        "a consistency proof from tree size 0 is refused: RFC 9162 needs 0 < first"
    )
    assert refusal(check, 5, 5, first, first, [first]) == (
        "trees of equal size 5 need an empty consistency proof, got 1 elements"
    )
    assert refusal(check, 5, 5, first, second, []) == "trees of equal size 5 have different roots"
    assert refusal(check, 5, 13, first, second, []) == "consistency proof from size 5 to size 13 is empty"
    assert refusal(check, 5, 13, first, second, [*proof, OTHER]) == (
        "consistency proof has 6 elements, more than sizes 5 and 13 need"
    )
    assert refusal(check, 5, 13, first, second, proof[:-1]) == (
        "consistency proof has 4 elements, fewer than sizes 5 and 13 need"
    )
    assert refusal(check, 5, 13, ROOTS[4], second, proof) == (
        "consistency proof does not lead to the root of the tree of size 5"
    )
    assert refusal(check, 5, 13, first, ROOTS[12], proof) == (
        "consistency proof does not lead to the root of the tree of size 13"
    )


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 4), (0, -1)])
def test_an_inclusion_proof_outside_the_tree_is_not_built(index, size):
    text = f"leaf index {index} is not below tree size {size}"
    assert refusal(inclusion_nodes, index, size) == text
    assert refusal(inclusion_proof, index, size, STORES[N]) == text


def test_a_leaf_hash_of_the_wrong_size_is_not_appended():
    with pytest.raises(ValueError) as refused:
        completed_nodes(0, b"x" * 31, {})
    assert str(refused.value) == "leaf hash must be 32 bytes, got 31"
