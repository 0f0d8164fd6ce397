"""HMAC keys and key files: correct MACs, rotation, and no secret ever shown."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditstream.core.keys import HmacKey, Keyring
from auditstream.errors import KeyMaterialError, UnknownKeyError
from auditstream.settings import keyfiles


@given(secret=st.binary(min_size=32, max_size=200), data=st.binary(max_size=300))
def test_mac_is_rfc2104_hmac_sha256(secret: bytes, data: bytes) -> None:
    assert HmacKey("k1", secret).mac(data) == hmac.digest(secret, data, "sha256")


def test_short_keys_and_bad_ids_are_refused_without_echoing_the_key() -> None:
    secret = b"s3cr3t-but-short"
    with pytest.raises(KeyMaterialError) as caught:
        HmacKey("k1", secret)
    assert secret.decode() not in str(caught.value)
    with pytest.raises(KeyMaterialError):
        HmacKey("bad id", bytes(32))


def test_key_reprs_hide_material() -> None:
    secret = os.urandom(32)
    key = HmacKey("k1", secret)
    ring = Keyring([key], "k1")
    for text in (repr(key), str(key), repr(ring)):
        assert secret.hex() not in text
        assert base64.b64encode(secret).decode() not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_keyring_rotation_keeps_old_ids() -> None:
    old, new = HmacKey("k1", os.urandom(32)), HmacKey("k2", os.urandom(32))
    ring = Keyring([old, new], "k2")
    assert ring.active is new
    assert ring.require("k1") is old
    with pytest.raises(UnknownKeyError):
        ring.require("k3")
    with pytest.raises(KeyMaterialError):
        Keyring([old, HmacKey("k1", os.urandom(32))], "k1")
    with pytest.raises(KeyMaterialError):
        Keyring([old], "k9")


def test_keyring_file_round_trip_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "hmac.json"
    keyfiles.write_new_keyring(path, "k1")
    assert path.stat().st_mode & 0o777 == 0o600
    first = keyfiles.load_keyring(path)
    keyfiles.rotate_keyring(path, "k2")
    second = keyfiles.load_keyring(path)
    assert second.active.key_id == "k2"
    assert second.require("k1").mac(b"x") == first.require("k1").mac(b"x")
    with pytest.raises(FileExistsError):
        keyfiles.write_new_keyring(path, "k1")
    with pytest.raises(KeyMaterialError, match="already has"):
        keyfiles.rotate_keyring(path, "k2")


def test_keyring_from_environment() -> None:
    doc = keyfiles.new_keyring_document("env1")
    ring = keyfiles.load_keyring(env={keyfiles.HMAC_KEYS_ENV: json.dumps(doc)})
    assert ring.active.key_id == "env1"
    with pytest.raises(KeyMaterialError, match=keyfiles.HMAC_KEYS_ENV):
        keyfiles.load_keyring(env={})


def test_malformed_keyring_error_does_not_leak_the_secret(tmp_path: Path) -> None:
    secret = base64.b64encode(os.urandom(32)).decode()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"keys": [{"id": "k1", "secret": secret}]}))
    with pytest.raises(KeyMaterialError) as caught:
        keyfiles.load_keyring(path)
    assert secret not in str(caught.value)
    assert str(path) in str(caught.value)


def test_loose_permissions_are_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "hmac.json"
    keyfiles.write_new_keyring(path, "k1")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        keyfiles.load_keyring(path)
    assert "chmod 600" in caplog.text


def test_signer_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "signer.key"
    signer = keyfiles.write_new_signer(path, "audit-test")
    loaded = keyfiles.load_signer(path)
    assert loaded.verifier == signer.verifier
    pub = tmp_path / "public.keys"
    pub.write_text(f"# trusted\n{signer.verifier.encode()}\n")
    assert keyfiles.load_verifiers(pub) == [signer.verifier]
