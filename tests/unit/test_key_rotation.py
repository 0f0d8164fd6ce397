"""Key rotation: entries MACed and checkpoints signed before a rotation still verify
with the rotated keyring and both public keys; leaving an old key out is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main
from auditstream.core.chain import Chain, ChainHead
from auditstream.core.checkpoint import sign_checkpoint
from auditstream.core.keys import Keyring, NoteSigner
from auditstream.core.verify import Kind, verify_chain
from auditstream.privacy.vault import LocalKek, SubjectVault
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


def test_subject_kek_rotation_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keks, vault_dir = tmp_path / "keks.json", tmp_path / "vault"
    assert main(["keys", "generate", "--subject-keks", str(keks)]) == 0
    vault = SubjectVault(vault_dir, LocalKek(keyfiles.load_keyring(keks)))
    key_id, key = vault.current("ab" * 16)
    assert main(["keys", "rotate", "--hmac", str(keks), "--id", "kek-2"]) == 0
    capsys.readouterr()
    assert (
        main(["keys", "rewrap", "--subject-vault", str(vault_dir), "--subject-keks", str(keks)])
        == 0
    )
    assert "1 key(s) wrapped again under kek-2" in capsys.readouterr().out
    only_new = Keyring([keyfiles.load_keyring(keks).require("kek-2")], "kek-2")
    assert SubjectVault(vault_dir, LocalKek(only_new)).key(key_id) == key
    assert main(["keys", "rewrap", "--subject-vault", str(tmp_path / "none"),
                 "--subject-keks", str(keks)]) == 2  # fmt: skip
    assert "no subject vault at" in capsys.readouterr().err
