"""Ordinary audit text that holds no secret: ids, hashes, encodings of plain data,
versions, times and amounts, as services write them. For measuring false positives."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid

_WORDS = (
    *("user", "login", "logout", "export", "report", "invoice", "order", "shipment"),
    *("retry", "timeout", "session", "config", "flag", "rollout", "deploy", "build"),
    *("cache", "record", "tenant", "role", "policy", "bucket", "object"),
)


def ordinary_text(rng: random.Random) -> str:
    """One line of ordinary audit text."""
    word = rng.choice(_WORDS)
    pieces = (
        f"request {uuid.UUID(int=rng.getrandbits(128), version=4)} completed",
        f"sha256 {hashlib.sha256(rng.randbytes(16)).hexdigest()}",
        f"etag {hashlib.md5(rng.randbytes(8), usedforsecurity=False).hexdigest()}",
        f"commit {hashlib.sha1(rng.randbytes(8), usedforsecurity=False).hexdigest()[:12]}",
        f"payload {base64.b64encode(f'{word} {rng.randint(1, 10**6)}'.encode()).decode()}",
        f"cursor={base64.urlsafe_b64encode(rng.randbytes(rng.randint(8, 30))).decode()}",
        f"version {rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 200)}",
        f"at 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z",
        f"order ORD-{rng.randint(10**7, 10**9)} total {rng.randint(1, 99999) / 100:.2f} EUR",
        f"{word}_id={rng.getrandbits(63)} status=ok",
        f"trace {rng.getrandbits(128):032x} span {rng.getrandbits(64):016x}",
        f"GET /api/v1/{word}s/{rng.randint(1, 9999)}?page={rng.randint(1, 50)} 200",
        f"key rotated for {word} after {rng.randint(1, 90)} days",
        f"token count {rng.randint(1, 8000)} for model gpt-4o",
    )
    return " ".join(rng.sample(pieces, rng.randint(1, 3)))
