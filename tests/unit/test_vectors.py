"""Our committed known answers: recomputed here with the standard library only, and
regenerated to catch drift. Also checks the committed generated protobuf code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditstream.core import hashes, merkle

REPO = Path(__file__).resolve().parent.parent.parent
VECTORS = json.loads((REPO / "tests" / "vectors" / "auditstream-v1.json").read_text())


def test_chain_vectors_follow_the_normative_formula() -> None:
    secret = bytes.fromhex(VECTORS["hmac_key"]["secret_hex"])
    prev = bytes(32)
    for entry in VECTORS["entries"]:
        body = bytes.fromhex(entry["body"])
        digest = hashlib.sha256(body).digest()
        assert digest.hex() == entry["body_digest"]
        assert entry["prev_hash"] == prev.hex()
        ehash = hashlib.sha256(
            b"auditstream.v1.chain\x00" + prev + entry["seq"].to_bytes(8, "big") + digest
        ).digest()
        assert ehash.hex() == entry["entry_hash"]
        assert hmac.digest(secret, ehash, "sha256").hex() == entry["mac"]
        prev = ehash


def test_checkpoint_vector_signature_and_root() -> None:
    note = VECTORS["checkpoint_note"]
    text, sig_line = note.split("\n\n")
    text += "\n"
    origin, size, root_b64 = text.splitlines()
    assert origin == "auditstream/" + VECTORS["chain_id"]
    leaves = [hashes.leaf_hash(bytes.fromhex(e["entry_hash"])) for e in VECTORS["entries"]]
    assert int(size) == len(leaves)
    assert (
        base64.b64decode(root_b64)
        == merkle.root(leaves)
        == bytes.fromhex(VECTORS["merkle"]["root"])
    )
    name, _, encoded = VECTORS["verifier_key"].split("+", 2)
    public = base64.b64decode(encoded)[1:]
    blob = base64.b64decode(sig_line.strip().split(" ")[2])
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    assert blob[:4] == key_hash
    Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode())


def test_proof_vectors_verify() -> None:
    m = VECTORS["merkle"]
    leaves = [bytes.fromhex(h) for h in m["leaf_hashes"]]
    inc = m["inclusion"]
    proof = [bytes.fromhex(h) for h in inc["proof"]]
    assert merkle.verify_inclusion(
        leaves[inc["index"]], inc["index"], inc["size"], proof, bytes.fromhex(m["root"])
    )
    con = m["consistency"]
    proof = [bytes.fromhex(h) for h in con["proof"]]
    assert merkle.verify_consistency(
        con["old_size"],
        con["new_size"],
        bytes.fromhex(con["old_root"]),
        bytes.fromhex(m["root"]),
        proof,
    )


def test_content_digest_vector() -> None:
    c = VECTORS["content_digest"]
    master = bytes.fromhex(c["salt_key"]["secret_hex"])
    salt = hmac.digest(
        master, b"auditstream.v1.content-salt\x00" + c["tenant_id"].encode(), "sha256"
    )
    assert hmac.digest(salt, c["text"].encode(), "sha256").hex() == c["digest"]


@pytest.mark.parametrize("script", ["gen_vectors.py", "gen_proto.py"])
def test_committed_generated_files_are_fresh(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
