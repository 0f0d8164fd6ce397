"""Witness cosignatures (cosignature/v1) and the quorum policy, in the pure core. Real
witnesses' cosignatures are checked in tests/integration/test_witness.py."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditstream.core import cosignature, note
from auditstream.core.checkpoint import sign_checkpoint, verify_checkpoint
from auditstream.core.cosignature import CosignatureVerifier, QuorumError, WitnessPolicy
from auditstream.core.keys import NoteSigner
from auditstream.errors import ConfigError, KeyMaterialError, NoteError

LOG = NoteSigner.generate("auditstream-test")
ROOT = bytes(range(32))


class Witness:
    """A witness key that cosigns as C2SP tlog-cosignature says (test double of the
    signing side only; verification is the code under test)."""

    def __init__(self, name: str) -> None:
        self.private = Ed25519PrivateKey.generate()
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = CosignatureVerifier(name, public)

    def line(self, signed: bytes, timestamp: int = 1_700_000_000) -> bytes:
        text, _ = note.parse(signed)
        signature = self.private.sign(cosignature.message(text, timestamp))
        blob = self.verifier.key_id + timestamp.to_bytes(8, "big") + signature
        return f"\u2014 {self.verifier.name} {base64.b64encode(blob).decode()}\n".encode()


W1, W2, W3 = Witness("w1.example/w"), Witness("w2.example/w"), Witness("w3.example/w")


def checkpoint(size: int = 10) -> bytes:
    return sign_checkpoint("acme", size, ROOT, LOG).note


def test_the_signed_message_is_the_spec_one() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature.message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_vkeys_round_trip_and_use_type_0x04() -> None:
    vkey = W1.verifier.encode()
    name, key_id, encoded = vkey.split("+", 2)
    assert name == "w1.example/w" and base64.b64decode(encoded)[0] == 0x04
    assert CosignatureVerifier.parse(vkey) == W1.verifier
    assert key_id == W1.verifier.key_id.hex() != LOG.verifier.key_hash.hex()


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("nothing", "must have the form"),
        ("w+00000000+!!!", "not valid base64"),
        (LOG.verifier.encode(), "plain Ed25519 note key"),
        ("w+00000000+" + base64.b64encode(b"\x06" + bytes(1312)).decode(), "ML-DSA-44"),
        ("w+00000000+" + base64.b64encode(b"\x04" + bytes(31)).decode(), "not a cosignature/v1"),
        ("w+00000000+" + base64.b64encode(b"\x04" + bytes(32)).decode(), "key id does not match"),
        ("a b+00000000+" + base64.b64encode(b"\x04" + bytes(32)).decode(), "invalid note key"),
    ],
)
def test_bad_vkeys_are_refused_precisely(vkey: str, message: str) -> None:
    with pytest.raises(KeyMaterialError, match=message):
        CosignatureVerifier.parse(vkey)


def test_valid_cosignatures_are_found_and_others_ignored() -> None:
    signed = checkpoint()
    cosigned = signed + W1.line(signed, 5) + W2.line(signed, 6)
    found = cosignature.cosignatures(cosigned, [W1.verifier, W2.verifier, W3.verifier])
    assert {(c.witness.name, c.timestamp) for c in found} == {
        ("w1.example/w", 5),
        ("w2.example/w", 6),
    }
    # The log's own signature still verifies with the log key; cosignatures are ignored.
    assert verify_checkpoint(cosigned, [LOG.verifier], "acme").tree_size == 10
    assert cosignature.signature_lines(cosigned, W2.verifier) == W2.line(signed, 6)


def test_a_cosignature_of_another_checkpoint_does_not_verify() -> None:
    other = checkpoint(11)
    forged = checkpoint() + W1.line(other)  # a real cosignature, moved to another note
    with pytest.raises(
        QuorumError, match=r"cosignature by witness 'w1\.example/w' does not verify"
    ):
        cosignature.cosignatures(forged, [W1.verifier])
    assert cosignature.signature_lines(forged, W1.verifier) == b""


def test_the_policy_counts_distinct_trusted_witnesses() -> None:
    signed = checkpoint()
    cosigned = signed + W1.line(signed) + W1.line(signed, 9)  # the same witness twice
    assert len(WitnessPolicy.of([W1.verifier], None).check(cosigned)) == 1
    with pytest.raises(QuorumError, match="1 valid cosignature of the 2 required"):
        WitnessPolicy((W1.verifier, W2.verifier), 2).check(cosigned)
    both = cosigned + W2.line(signed)
    assert len(WitnessPolicy((W1.verifier, W2.verifier, W3.verifier), 2).check(both)) == 2


def test_a_replaced_witness_key_is_named_in_the_refusal() -> None:
    signed = checkpoint()
    impostor = Witness("w1.example/w")  # same name, another key
    policy = WitnessPolicy.of([impostor.verifier], 1)
    with pytest.raises(QuorumError) as caught:
        verify_checkpoint(signed + W1.line(signed), [LOG.verifier], "acme", policy)
    message = str(caught.value)
    assert message.startswith("checkpoint of tree size 10: 0 valid cosignatures of the 1 required")
    assert f"w1.example/w key id {impostor.verifier.key_id.hex()}" in message
    assert (
        f"cosigned by untrusted keys: w1.example/w (key id {W1.verifier.key_id.hex()})" in message
    )
    assert (
        LOG.name not in message.split("untrusted keys:")[1]
    )  # the log's signature is no cosignature


def test_an_uncosigned_checkpoint_is_refused_as_such() -> None:
    with pytest.raises(QuorumError, match="it carries no cosignatures"):
        verify_checkpoint(checkpoint(), [LOG.verifier], "acme", WitnessPolicy.of([W1.verifier], 1))


@pytest.mark.parametrize(("quorum", "message"), [(0, "at least 1"), (2, "needs at least 2")])
def test_impossible_policies_are_refused(quorum: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WitnessPolicy((W1.verifier, W1.verifier), quorum)


@pytest.mark.parametrize(
    "blob",
    [bytes(4), bytes(4 + 71), bytes(4 + 73), (2**63).to_bytes(8, "big").rjust(76, b"\0")],
)
def test_malformed_cosignature_blobs_never_verify(blob: bytes) -> None:
    signed = checkpoint()
    blob = W1.verifier.key_id + blob[4:]
    line = f"\u2014 {W1.verifier.name} {base64.b64encode(blob).decode()}\n".encode()
    with pytest.raises(NoteError):
        WitnessPolicy.of([W1.verifier], 1).check(signed + line)


def test_merged_copies_of_a_checkpoint_carry_every_signature_once() -> None:
    signed = checkpoint()
    a, b = signed + W1.line(signed), signed + W2.line(signed)
    merged = note.merge([signed, a, b, a, b"not a note"])
    assert merged[-1] == b"not a note"
    assert merged[0] == signed + W1.line(signed) + W2.line(signed)
    assert len(WitnessPolicy((W1.verifier, W2.verifier), 2).check(merged[0])) == 2
