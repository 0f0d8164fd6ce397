"""Helpers that build real sealed chains for tests (no mocks: the production sealer)."""

from __future__ import annotations

from auditstream.core.body import encode_body
from auditstream.core.chain import Chain, ChainHead, Link
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.keys import HmacKey, Keyring, NoteSigner
from auditstream.proto.v1 import log_entry_pb2 as pb

KEY = HmacKey("k1", bytes(range(32)))
KEYRING = Keyring([KEY], "k1")
SIGNER = NoteSigner.generate("test-checkpoints")


def body(chain_id: str, seq: int, message: str = "") -> bytes:
    entry = pb.LogEntry(
        event_type=pb.EVENT_LOGIN,
        outcome=pb.OUTCOME_SUCCESS,
        severity=pb.SEVERITY_INFO,
        actor_id=f"user-{seq % 7}",
        tenant_id=chain_id.split("/", maxsplit=1)[0],
        event_id=f"evt-{chain_id}-{seq}",
        message=message or f"login {seq}",
    )
    return encode_body(
        entry, chain_id=chain_id, seq=seq, received_time_ns=1_700_000_000_000_000_000 + seq
    )


def build(chain_id: str, n: int, key: HmacKey = KEY) -> tuple[list[Link], Chain]:
    chain = Chain(ChainHead.genesis(chain_id))
    links = [chain.append(body(chain_id, seq), key) for seq in range(n)]
    return links, chain


def checkpoint(chain: Chain, signer: NoteSigner = SIGNER) -> bytes:
    return sign_checkpoint(chain.chain_id, chain.next_seq, chain.root(), signer).note


def flip(data: bytes, index: int = 0) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= 0x01
    return bytes(out)
