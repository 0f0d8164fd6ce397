"""One witness's `add-checkpoint` endpoint (C2SP tlog-witness), over HTTP(S).

    POST <submission prefix>/add-checkpoint
    old <size the witness cosigned last>\\n
    <base64 consistency proof hash>\\n ...
    \\n
    <signed checkpoint note>

200 answers cosignature lines; 409 the witness's own latest size (`text/x.tlog.size`);
400, 403, 404 and 422 refuse the checkpoint (malformed, untrusted or unknown log,
inconsistent with what the witness saw). Network errors, 429 and 5xx are transient.
"""

from __future__ import annotations

import base64
import enum
import http.client
import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from auditstream.core import cosignature
from auditstream.core.cosignature import CosignatureVerifier
from auditstream.errors import ConfigError, KeyMaterialError, NoteError

log = logging.getLogger(__name__)
MAX_REPLY = 64 * 1024
MAX_PROOF = 63


class Reason(enum.StrEnum):
    """Why a witness did not cosign."""

    BAD_REQUEST = "bad_request"  # 400
    FORBIDDEN = "forbidden"  # 403: no signature by a key it trusts for the origin
    UNKNOWN_LOG = "unknown_log"  # 404
    INCONSISTENT = "inconsistent"  # 422: the proof does not connect to what it saw
    BAD_COSIGNATURE = "bad_cosignature"  # 200 without a valid cosignature by its key
    REFUSED = "refused"  # any other 4xx
    INCONSISTENT_ARCHIVE = "inconsistent_archive"  # found before submitting: see feeder


@dataclass(frozen=True)
class Witness:
    """A witness as configured: where to submit, and the key its cosignatures use."""

    url: str
    verifier: CosignatureVerifier

    @property
    def name(self) -> str:
        return self.verifier.name

    @classmethod
    def parse(cls, spec: str) -> Witness:
        """`URL=VKEY`: the submission prefix and the witness's cosignature verifier key."""
        url, sep, vkey = spec.partition("=")
        if not sep or not vkey:
            raise ConfigError(f"witness {spec[:80]!r}: give it as URL=VKEY")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"witness URL {url[:80]!r} is not an http:// or https:// URL")
        if parsed.query or parsed.fragment:
            raise ConfigError(f"witness URL {url[:80]!r}: a submission prefix has no query")
        try:
            verifier = CosignatureVerifier.parse(vkey)
        except KeyMaterialError as exc:
            raise ConfigError(f"witness {url}: {exc}") from exc
        return cls(url.rstrip("/"), verifier)


@dataclass(frozen=True)
class Cosigned:
    lines: bytes  # the witness's valid cosignature line(s), to store beside the note
    timestamp: int


@dataclass(frozen=True)
class Conflict:
    known_size: int  # the size of the latest checkpoint the witness cosigned


@dataclass(frozen=True)
class Refused:
    reason: Reason
    status: int
    detail: str


@dataclass(frozen=True)
class Unavailable:
    detail: str


Result = Cosigned | Conflict | Refused | Unavailable


def request_body(old_size: int, proof: Sequence[bytes], signed_note: bytes) -> bytes:
    if len(proof) > MAX_PROOF:
        raise ValueError(f"a consistency proof of {len(proof)} hashes is longer than {MAX_PROOF}")
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return "".join(lines).encode() + signed_note


def interpret(
    status: int, content_type: str, body: bytes, witness: Witness, signed: bytes
) -> Result:
    """What a reply to add-checkpoint means (pure)."""
    text = body.decode("utf-8", "replace").strip()
    if status == 200:
        try:
            found = cosignature.cosignatures(signed + body, [witness.verifier])
            lines = cosignature.signature_lines(signed + body, witness.verifier)
        except NoteError as exc:
            return Refused(
                Reason.BAD_COSIGNATURE,
                status,
                f"its reply holds no valid cosignature lines ({exc})",
            )
        if not found:
            return Refused(
                Reason.BAD_COSIGNATURE,
                status,
                f"no cosignature by {witness.name} key id {witness.verifier.key_id.hex()} in "
                f"its reply (is the configured witness key right?)",
            )
        return Cosigned(lines, found[0].timestamp)
    if status == 409:
        size = text.splitlines()[0] if text else ""
        media = content_type.split(";", maxsplit=1)[0].strip()
        if media != "text/x.tlog.size" or not (size.isascii() and size.isdigit()):
            return Refused(Reason.REFUSED, status, f"409 without a tree size: {text[:200]!r}")
        return Conflict(int(size))
    if status == 429 or status >= 500:
        return Unavailable(f"HTTP {status}: {text[:200]}")
    reason = {
        400: Reason.BAD_REQUEST,
        403: Reason.FORBIDDEN,
        404: Reason.UNKNOWN_LOG,
        422: Reason.INCONSISTENT,
    }.get(status, Reason.REFUSED)
    return Refused(reason, status, f"HTTP {status}: {text[:200] or 'no detail'}")


class WitnessClient:
    """Submits checkpoints to one witness, over one kept-alive connection."""

    def __init__(self, witness: Witness, timeout: float = 10.0) -> None:
        self.witness = witness
        self.timeout = timeout
        parts = urllib.parse.urlsplit(witness.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/add-checkpoint"
        self._connection: http.client.HTTPConnection | None = None

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], signed_note: bytes) -> Result:
        body = request_body(old_size, proof, signed_note)
        try:
            status, content_type, reply = self._post(body)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Unavailable(f"{type(exc).__name__}: {exc}")
        return interpret(status, content_type, reply, self.witness, signed_note)

    def _post(self, body: bytes) -> tuple[int, str, bytes]:
        connection = self._connection
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = self._connection = kind(self._host, self._port, timeout=self.timeout)
        connection.request(
            "POST", self._path, body=body, headers={"Content-Type": "text/plain; charset=utf-8"}
        )
        response = connection.getresponse()
        reply = response.read(MAX_REPLY + 1)
        if len(reply) > MAX_REPLY:
            self.close()
            raise http.client.HTTPException(f"reply longer than {MAX_REPLY} bytes")
        if response.will_close:
            self.close()
        return response.status, response.getheader("Content-Type", ""), reply

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
