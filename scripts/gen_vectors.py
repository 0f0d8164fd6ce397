"""Write tests/vectors/auditstream-v1.json: sealing known answers for other languages.

    python scripts/gen_vectors.py           # rewrite the file
    python scripts/gen_vectors.py --check   # exit 1 if the committed file differs

Everything is deterministic (fixed keys, fixed times; Ed25519 signatures are
deterministic), so any implementation of DESIGN.md §3 must reproduce these bytes.
The keys are published test keys: never use them for anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditstream.core import hashes, merkle
from auditstream.core.body import encode_body
from auditstream.core.chain import Chain, ChainHead
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.content import DigestPolicy
from auditstream.core.keys import HmacKey, NoteSigner
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.samples.examples import SEED_EXAMPLES, entry_fields

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "auditstream-v1.json"
CHAIN_ID = "vector-tenant"
HMAC_SECRET = hashlib.sha256(b"auditstream test vector hmac key").digest()
SIGNER_SEED = hashlib.sha256(b"auditstream test vector signer").digest()
SALT_SECRET = hashlib.sha256(b"auditstream test vector content salt").digest()
BASE_TIME_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def signer() -> NoteSigner:
    return NoteSigner("auditstream-vectors", Ed25519PrivateKey.from_private_bytes(SIGNER_SEED))


def build() -> dict[str, Any]:
    key = HmacKey("vector-k1", HMAC_SECRET)
    note_signer = signer()
    chain = Chain(ChainHead.genesis(CHAIN_ID))
    entries = []
    for seq, example in enumerate(SEED_EXAMPLES):
        entry = pb.LogEntry(**entry_fields(example))
        entry.event_id = f"0194{seq:04x}-0000-7000-8000-000000000000"
        entry.tenant_id = CHAIN_ID
        entry.event_time.seconds = BASE_TIME_NS // 1_000_000_000 + seq
        body = encode_body(
            entry,
            chain_id=CHAIN_ID,
            seq=seq,
            received_time_ns=BASE_TIME_NS + seq * 1_000_000,
            source_topic="audit.raw.v1",
            source_partition=0,
            source_offset=seq,
        )
        link = chain.append(body, key)
        entries.append(
            {
                "name": example["name"],
                "seq": seq,
                "body": body.hex(),
                "prev_hash": link.prev_hash.hex(),
                "body_digest": link.body_digest.hex(),
                "entry_hash": link.entry_hash.hex(),
                "key_id": link.key_id,
                "mac": link.mac.hex(),
                "sealed_entry": link.encode().hex(),
            }
        )
    leaves = [hashes.leaf_hash(bytes.fromhex(e["entry_hash"])) for e in entries]
    size = len(leaves)
    checkpoint = sign_checkpoint(CHAIN_ID, size, chain.root(), note_signer)
    old_size = 3
    policy = DigestPolicy(HmacKey("vector-salt", SALT_SECRET))
    return {
        "description": "auditstream.v1 sealing known answers; see docs/sealing.md. Test keys only.",
        "hmac_key": {"id": key.key_id, "secret_hex": HMAC_SECRET.hex()},
        "signer_key": note_signer.encode_private(),
        "verifier_key": note_signer.verifier.encode(),
        "chain_id": CHAIN_ID,
        "entries": entries,
        "merkle": {
            "leaf_hashes": [leaf.hex() for leaf in leaves],
            "root": chain.root().hex(),
            "inclusion": {
                "index": 3,
                "size": size,
                "proof": [h.hex() for h in merkle.inclusion_proof(leaves, 3)],
            },
            "consistency": {
                "old_size": old_size,
                "old_root": merkle.root(leaves[:old_size]).hex(),
                "new_size": size,
                "proof": [h.hex() for h in merkle.consistency_proof(leaves, old_size)],
            },
        },
        "checkpoint_note": checkpoint.note.decode(),
        "content_digest": {
            "salt_key": {"id": "vector-salt", "secret_hex": SALT_SECRET.hex()},
            "tenant_id": CHAIN_ID,
            "text": "What is the balance of account 42?",
            "digest": policy.digest("What is the balance of account 42?", tenant_id=CHAIN_ID).hex(),
        },
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    if parser.parse_args().check:
        if not OUT.exists() or OUT.read_text() != render():
            print(f"{OUT} is stale: run `python scripts/gen_vectors.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
