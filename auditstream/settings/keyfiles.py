"""Reading and writing key files (the IO edge of `auditstream.core.keys`).

Formats:
    HMAC keyring   JSON {"active": "<id>", "keys": [{"id": "<id>", "secret": "<base64>"}]}
    signer key     one line, PRIVATE+KEY+<name>+<hash>+<base64>   (C2SP signed-note)
    verifier keys  one <name>+<hash>+<base64> per line; '#' starts a comment

Secrets may also come from the environment: AUDITSTREAM_HMAC_KEYS holds the keyring
JSON, AUDITSTREAM_CHECKPOINT_KEY the signer key string. Errors name the file or the
variable, never the key.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditstream.core.keys import HmacKey, Keyring, NoteSigner, NoteVerifier
from auditstream.errors import KeyMaterialError

log = logging.getLogger(__name__)

HMAC_KEYS_ENV = "AUDITSTREAM_HMAC_KEYS"
CHECKPOINT_KEY_ENV = "AUDITSTREAM_CHECKPOINT_KEY"
CONTENT_KEYS_ENV = "AUDITSTREAM_CONTENT_KEYS"


def _read_secret_file(path: str | os.PathLike[str]) -> str:
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyMaterialError(f"cannot read key file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("key file %s is accessible by group or others; chmod 600 it", path)
    return text


def parse_keyring(text: str, source: str) -> Keyring:
    try:
        doc = json.loads(text)
        active = doc["active"]
        entries = doc["keys"]
        keys = [
            HmacKey(str(item["id"]), base64.b64decode(item["secret"], validate=True))
            for item in entries
        ]
    except (ValueError, KeyError, TypeError, binascii.Error):
        # No cause attached: a JSON error holds the whole document, secrets included.
        raise KeyMaterialError(
            f"{source}: expected JSON {{'active': id, 'keys': [{{'id', 'secret'}}]}}"
        ) from None
    return Keyring(keys, str(active))


def load_keyring(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    variable: str = HMAC_KEYS_ENV,
) -> Keyring:
    """A keyring from `path`, else from the environment variable (chain MAC keys by
    default; `CONTENT_KEYS_ENV` for the content-digest salt keys)."""
    if path is not None:
        return parse_keyring(_read_secret_file(path), str(path))
    environ = os.environ if env is None else env
    text = environ.get(variable)
    if not text:
        raise KeyMaterialError(f"no keyring: pass a key file or set {variable}")
    return parse_keyring(text, variable)


def load_signer(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> NoteSigner:
    """The checkpoint signing key from `path`, else from $AUDITSTREAM_CHECKPOINT_KEY."""
    if path is not None:
        try:
            return NoteSigner.parse(_read_secret_file(path))
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"{path}: {exc}") from exc
    environ = os.environ if env is None else env
    text = environ.get(CHECKPOINT_KEY_ENV)
    if not text:
        raise KeyMaterialError(f"no checkpoint key: pass a key file or set {CHECKPOINT_KEY_ENV}")
    return NoteSigner.parse(text)


def parse_verifiers(text: str) -> list[NoteVerifier]:
    verifiers = []
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if line:
            verifiers.append(NoteVerifier.parse(line))
    return verifiers


def load_verifiers(path: str | os.PathLike[str]) -> list[NoteVerifier]:
    """Trusted checkpoint public keys, one per line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyMaterialError(f"cannot read public key file {path}: {exc.strerror}") from exc
    try:
        verifiers = parse_verifiers(text)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{path}: {exc}") from exc
    if not verifiers:
        raise KeyMaterialError(f"{path} holds no verifier keys")
    return verifiers


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def new_keyring_document(key_id: str) -> dict[str, Any]:
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    return {"active": key_id, "keys": [{"id": key_id, "secret": secret}]}


def write_new_keyring(path: str | os.PathLike[str], key_id: str) -> None:
    """Create a keyring file with one fresh 256-bit key (refuses to overwrite)."""
    HmacKey(key_id, bytes(32))  # validates the id before anything is written
    _write_private(Path(path), json.dumps(new_keyring_document(key_id), indent=2) + "\n")


def rotate_keyring(path: str | os.PathLike[str], new_key_id: str) -> None:
    """Add a fresh key to a keyring file and make it active; old keys stay."""
    path = Path(path)
    text = _read_secret_file(path)
    parse_keyring(text, str(path))
    doc = json.loads(text)
    if any(item["id"] == new_key_id for item in doc["keys"]):
        raise KeyMaterialError(f"{path} already has a key with id {new_key_id!r}")
    doc["keys"].append(new_keyring_document(new_key_id)["keys"][0])
    doc["active"] = new_key_id
    tmp = path.with_suffix(path.suffix + ".tmp")
    _write_private(tmp, json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def write_new_signer(path: str | os.PathLike[str], name: str) -> NoteSigner:
    """Create a signer key file with a fresh Ed25519 key (refuses to overwrite)."""
    signer = NoteSigner.generate(name)
    _write_private(Path(path), signer.encode_private() + "\n")
    return signer
