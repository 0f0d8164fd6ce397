"""Reading and writing key files (the IO edge of `auditstream.core.keys`).

Formats:
    HMAC keyring   JSON {"active": "<id>", "keys": [{"id": "<id>", "secret": "<base64>"}]}
    signer key     one line, PRIVATE+KEY+<name>+<hash>+<base64>   (C2SP signed-note)
    verifier keys  one <name>+<hash>+<base64> per line; '#' starts a comment
    dead-letter    private: AUDITSTREAM-DEADLETTER-PRIVATE-KEY+<id>+<base64>  (operator)
                   public:  auditstream-deadletter-key+<id>+<base64>          (worker)

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

from auditstream.core.deadletter import DeadLetterKey, DeadLetterRecipient
from auditstream.core.keys import HmacKey, Keyring, NoteSigner, NoteVerifier
from auditstream.errors import KeyMaterialError

log = logging.getLogger(__name__)

HMAC_KEYS_ENV = "AUDITSTREAM_HMAC_KEYS"
CHECKPOINT_KEY_ENV = "AUDITSTREAM_CHECKPOINT_KEY"
CONTENT_KEYS_ENV = "AUDITSTREAM_CONTENT_KEYS"
SUBJECT_KEKS_ENV = "AUDITSTREAM_SUBJECT_KEKS"  # key-encryption keys of the subject vault
DEAD_LETTER_KEY_ENV = "AUDITSTREAM_DEAD_LETTER_KEY"


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


def load_dead_letter_recipient(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> DeadLetterRecipient:
    """The operator's dead-letter public key from `path`, else from
    $AUDITSTREAM_DEAD_LETTER_KEY (the key line itself)."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyMaterialError(f"cannot read dead-letter key {path}: {exc.strerror}") from exc
        source = str(path)
    else:
        environ = os.environ if env is None else env
        text = environ.get(DEAD_LETTER_KEY_ENV, "")
        if not text:
            raise KeyMaterialError(
                "no dead-letter key: pass --dead-letter-key (the .pub file of "
                "`auditstream keys generate --dead-letter`) or set "
                f"AUDITSTREAM_DEAD_LETTER_KEY_FILE or {DEAD_LETTER_KEY_ENV}"
            )
        source = DEAD_LETTER_KEY_ENV
    try:
        return DeadLetterRecipient.parse(text)
    except KeyMaterialError as exc:
        hint = (
            " (that is the private key: give the worker the .pub file)" if "PRIVATE" in text else ""
        )
        raise KeyMaterialError(f"{source}: {exc}{hint}") from None


def load_dead_letter_key(path: str | os.PathLike[str]) -> DeadLetterKey:
    """The operator's dead-letter private key (opens dead letters)."""
    try:
        return DeadLetterKey.parse(_read_secret_file(path))
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{path}: {exc}") from None


def write_new_dead_letter_key(path: str | os.PathLike[str], key_id: str) -> DeadLetterKey:
    """Create a dead-letter key pair: `path` (private, 0600) and `path`.pub (public, for
    the worker). Refuses to overwrite either."""
    key = DeadLetterKey.generate(key_id)
    path = Path(path)
    public = path.with_name(path.name + ".pub")
    if public.exists():
        raise KeyMaterialError(f"{public} already exists")
    _write_private(path, key.encode_private() + "\n")
    public.write_text(key.recipient.encode() + "\n", encoding="utf-8")
    return key
