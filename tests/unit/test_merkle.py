"""Merkle trees against the published RFC 6962 vectors, then exhaustively."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from auditstream.core import hashes, merkle
from auditstream.errors import ProofError

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "rfc6962.json").read_text())
LEAVES = [hashes.leaf_hash(bytes.fromhex(h)) for h in VECTORS["leaves_hex"]]
ROOTS = [bytes.fromhex(h) for h in VECTORS["roots"]]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root([]).hex() == VECTORS["empty_root"]
    assert merkle.CompactRange().root() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_published_roots(size: int) -> None:
    assert merkle.root(LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}-{c['size']}")
def test_published_inclusion_proofs(case: dict[str, object]) -> None:
    index, size = int(case["index"]), int(case["size"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in case["proof"]]  # type: ignore[attr-defined]
    assert merkle.inclusion_proof(LEAVES[:size], index) == expected
    assert merkle.verify_inclusion(LEAVES[index], index, size, expected, ROOTS[size - 1])


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['size1']}-{c['size2']}")
def test_published_consistency_proofs(case: dict[str, object]) -> None:
    size1, size2 = int(case["size1"]), int(case["size2"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in case["proof"]]  # type: ignore[attr-defined]
    assert merkle.consistency_proof(LEAVES[:size2], size1) == expected
    assert merkle.verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], expected)


def _tree(n: int) -> list[bytes]:
    return [hashes.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _corruptions(proof: list[bytes]) -> list[list[bytes]]:
    out = [[*proof, bytes(32)], [bytes(32), *proof]]
    if proof:
        out.append(proof[:-1])
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 8
        out.append([*proof[:i], bytes(flipped), *proof[i + 1 :]])
    return out


def test_compact_range_matches_recursive_definition() -> None:
    def mth(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return leaves[0]
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return hashes.node_hash(mth(leaves[:k]), mth(leaves[k:]))

    leaves = _tree(70)
    compact = merkle.CompactRange()
    for n, leaf in enumerate(leaves, start=1):
        compact.append(leaf)
        assert compact.size == n
        assert len(compact.hashes) == bin(n).count("1")
        assert compact.root() == mth(leaves[:n])


def test_every_inclusion_proof_verifies_and_no_corruption_does() -> None:
    leaves = _tree(33)
    for size in range(1, len(leaves) + 1):
        root = merkle.root(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(leaves[:size], index)
            assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
            assert not merkle.verify_inclusion(leaves[index], index, size, proof, bytes(32))
            if size > 1:
                other = (index + 1) % size
                assert not merkle.verify_inclusion(leaves[index], other, size, proof, root)
                assert not merkle.verify_inclusion(leaves[other], index, size, proof, root)
            for bad in _corruptions(proof):
                assert not merkle.verify_inclusion(leaves[index], index, size, bad, root)


def test_every_consistency_proof_verifies_and_no_corruption_does() -> None:
    leaves = _tree(33)
    roots = [merkle.root(leaves[:n]) for n in range(len(leaves) + 1)]
    for new in range(1, len(leaves) + 1):
        for old in range(1, new + 1):
            proof = merkle.consistency_proof(leaves[:new], old)
            assert merkle.verify_consistency(old, new, roots[old], roots[new], proof)
            if old == new:
                continue
            assert not merkle.verify_consistency(old, new, roots[new], roots[old], proof)
            assert not merkle.verify_consistency(old, new, roots[old - 1], roots[new], proof)
            for bad in _corruptions(proof):
                assert not merkle.verify_consistency(old, new, roots[old], roots[new], bad)


def test_a_rewritten_history_is_not_consistent() -> None:
    leaves = _tree(20)
    forged = [*leaves[:7], hashes.leaf_hash(b"forged"), *leaves[8:]]
    proof = merkle.consistency_proof(forged, 10)
    assert not merkle.verify_consistency(
        10, 20, merkle.root(leaves[:10]), merkle.root(forged), proof
    )


def test_impossible_proof_requests_raise() -> None:
    with pytest.raises(ProofError):
        merkle.inclusion_proof(_tree(3), 3)
    with pytest.raises(ProofError):
        merkle.consistency_proof(_tree(3), 4)
    with pytest.raises(ProofError):
        merkle.root_from_inclusion(bytes(32), 5, 5, [])


def test_leaf_and_node_domains_differ() -> None:
    data = bytes(64)
    assert hashes.leaf_hash(data) != hashes.node_hash(data[:32], data[32:])
    assert hashes.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


def test_extend_equals_appending_one_by_one() -> None:
    leaves = _tree(300)
    for start in (0, 1, 2, 3, 5, 8, 13, 64, 100):
        for count in (0, 1, 2, 7, 16, 31, 100, 200):
            one = merkle.CompactRange()
            bulk = merkle.CompactRange()
            for leaf in leaves[:start]:
                one.append(leaf)
            bulk.extend(leaves[:start])
            for leaf in leaves[start : start + count]:
                one.append(leaf)
            bulk.extend(leaves[start : start + count])
            assert (bulk.size, bulk.hashes) == (one.size, one.hashes), (start, count)
