"""Key rotation: entries MACed and checkpoints signed before a rotation still verify
with the rotated keyring and both public keys; leaving an old key out is reported."""

from __future__ import annotations

from pathlib import Path

from auditstream.core.chain import Chain, ChainHead
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.keys import Keyring, NoteSigner
from auditstream.core.verify import Kind, verify_chain
from auditstream.settings import keyfiles
from tests.support.chains import body


def test_rotated_keys_still_verify_old_entries(tmp_path: Path) -> None:
    ring_file = tmp_path / "hmac.json"
    keyfiles.write_new_keyring(ring_file, "k1")
    before = keyfiles.load_keyring(ring_file)
    chain = Chain(ChainHead.genesis("acme"))
    links = [chain.append(body("acme", seq), before.active) for seq in range(50)]
    old_signer = NoteSigner.generate("checkpoints-2025")
    notes = [sign_checkpoint("acme", chain.next_seq, chain.root(), old_signer).note]

    keyfiles.rotate_keyring(ring_file, "k2")
    after = keyfiles.load_keyring(ring_file)
    assert after.active.key_id == "k2" and after.get("k1") is not None
    links += [chain.append(body("acme", seq), after.active) for seq in range(50, 100)]
    new_signer = NoteSigner.generate("checkpoints-2026")
    notes.append(sign_checkpoint("acme", chain.next_seq, chain.root(), new_signer).note)
    both = [old_signer.verifier, new_signer.verifier]
    assert {link.key_id for link in links} == {"k1", "k2"}

    report = verify_chain(links, "acme", keyring=after, note_verifiers=both, checkpoints=notes)
    assert report.ok and report.checkpoints_verified == 2 and report.covered_size == 100

    only_new_key = Keyring([after.require("k2")], "k2")
    report = verify_chain(
        links, "acme", keyring=only_new_key, note_verifiers=both, checkpoints=notes
    )
    assert [(f.kind, f.seq) for f in report.findings] == [
        (Kind.UNKNOWN_KEY, seq) for seq in range(50)
    ]

    report = verify_chain(
        links, "acme", keyring=after, note_verifiers=[new_signer.verifier], checkpoints=notes
    )
    assert [f.kind for f in report.findings] == [Kind.BAD_CHECKPOINT_SIGNATURE]
    assert report.checkpoints_verified == 1
