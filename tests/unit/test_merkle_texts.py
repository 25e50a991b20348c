"""The texts of two Merkle refusals (app/domain/merkle.py) that mutation testing found unpinned (issue 21, session E)."""

from __future__ import annotations

import pytest

from app.domain.merkle import ProofError, completed_nodes, consistency_proof, verify_consistency

HASH = bytes(32)


def test_a_negative_leaf_index_is_named():
    with pytest.raises(ValueError) as refused:
        completed_nodes(-1, HASH, {})
    assert str(refused.value) == "leaf index -1 is negative"


def test_a_consistency_proof_from_an_empty_tree_is_refused_citing_rfc_9162():
    with pytest.raises(ProofError) as refused:
        verify_consistency(0, 3, HASH, HASH, [])
    assert str(refused.value) == "a consistency proof from tree size 0 is refused: RFC 9162 needs 0 < first"


@pytest.mark.parametrize(
    ("first", "second", "text"),
    [
        (5, 3, "first tree size 5 is larger than second tree size 3"),
        (0, 3, "a consistency proof from tree size 0 is refused: RFC 9162 needs 0 < first"),
        (-1, 3, "a consistency proof from tree size -1 is refused: RFC 9162 needs 0 < first"),
    ],
)
def test_a_consistency_proof_that_cannot_be_built_says_why(first, second, text):
    with pytest.raises(ProofError) as refused:
        consistency_proof(first, second, {})
    assert str(refused.value) == text
