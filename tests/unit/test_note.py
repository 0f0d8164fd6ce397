"""Signed notes and checkpoints against published known answers."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from auditstream.core import note
from auditstream.core.checkpoint import (
    checkpoint_text,
    parse_checkpoint_text,
    sign_checkpoint,
    verify_checkpoint,
)
from auditstream.core.keys import NoteSigner, NoteVerifier
from auditstream.errors import KeyMaterialError, NoteError

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "signed_note.json").read_text())
GO = VECTORS["go"]
SPEC = VECTORS["c2sp"]


def test_go_reference_signature_is_reproduced_byte_for_byte() -> None:
    signer = NoteSigner.parse(GO["signer_key"])
    assert signer.verifier.encode() == GO["verifier_key"]
    assert note.sign(GO["text"], [signer]).decode() == GO["note"]


def test_go_reference_note_opens() -> None:
    text, verified = note.open_note(GO["note"].encode(), [NoteVerifier.parse(GO["verifier_key"])])
    assert text == GO["text"]
    assert [v.name for v in verified] == ["PeterNeumann"]


def test_c2sp_specification_example_opens() -> None:
    verifier = NoteVerifier.parse(SPEC["verifier_key"])
    assert verifier.name == "example.com/foo"
    text, _ = note.open_note(SPEC["note"].encode(), [verifier])
    assert text == SPEC["text"]


def test_changed_text_fails() -> None:
    tampered = GO["note"].replace("cryptography", "cryptographY").encode()
    with pytest.raises(NoteError, match="invalid signature"):
        note.open_note(tampered, [NoteVerifier.parse(GO["verifier_key"])])


def test_untrusted_signer_fails() -> None:
    other = NoteSigner.generate("someone-else")
    with pytest.raises(NoteError, match="not signed by a trusted key"):
        note.open_note(GO["note"].encode(), [other.verifier])


@pytest.mark.parametrize(
    "bad",
    [
        "no blank line\n\u2014 a AAAA\n".encode(),
        b"text\n\nnot a signature line\n",
        b"text\n\n\xe2\x80\x94 name !!!notbase64\n",
        b"text\n\n\xe2\x80\x94 name AAAA\n",
        b"\xff\xfe\n\n",
        b"text\n\n\xe2\x80\x94 name AAAAAAAA",
    ],
)
def test_malformed_notes_raise(bad: bytes) -> None:
    with pytest.raises(NoteError):
        note.open_note(bad, [NoteVerifier.parse(GO["verifier_key"])])


def test_key_strings_are_checked() -> None:
    good = GO["verifier_key"]
    with pytest.raises(KeyMaterialError):
        NoteVerifier.parse(good.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(KeyMaterialError):
        NoteVerifier.parse("name+only")
    with pytest.raises(KeyMaterialError):
        NoteSigner.parse(GO["signer_key"].replace("PRIVATE+KEY", "PUBLIC+KEY"))
    with pytest.raises(KeyMaterialError):
        NoteSigner.generate("has space")


def test_signer_never_shows_its_private_key() -> None:
    signer = NoteSigner.parse(GO["signer_key"])
    secret_part = GO["signer_key"].rsplit("+", 1)[1]
    assert secret_part not in repr(signer)
    assert secret_part not in str(signer)
    with pytest.raises(TypeError):
        pickle.dumps(signer)


def test_checkpoint_round_trip() -> None:
    signer = NoteSigner.generate("test-log")
    root = bytes(range(32))
    signed = sign_checkpoint("tenant-a/shard1", 42, root, signer)
    text = signed.note.decode().split("\n\n")[0] + "\n"
    assert text == checkpoint_text("tenant-a/shard1", 42, root)
    assert text.splitlines()[0] == "auditstream/tenant-a/shard1"
    opened = verify_checkpoint(signed.note, [signer.verifier], "tenant-a/shard1")
    assert (opened.chain_id, opened.tree_size, opened.root_hash) == ("tenant-a/shard1", 42, root)
    with pytest.raises(NoteError, match="not 'tenant-b'"):
        verify_checkpoint(signed.note, [signer.verifier], "tenant-b")


def test_checkpoint_body_rules() -> None:
    with pytest.raises(NoteError):
        parse_checkpoint_text("origin\n012\nAAAA\n")
    with pytest.raises(NoteError):
        parse_checkpoint_text("origin\n12\n")
    with pytest.raises(NoteError):
        parse_checkpoint_text("origin\n12\nAAAA\n")
    origin, size, root = parse_checkpoint_text(
        checkpoint_text("c", 7, bytes(32)) + "extension line\n"
    )
    assert (origin, size, root) == ("auditstream/c", 7, bytes(32))
