"""The witness client's request and reply handling (C2SP tlog-witness) and the archive's
read-only tlog HTTP app, without a network. The real witness is exercised in
tests/integration/test_witness.py."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from auditstream.archive.http import TlogApp
from auditstream.archive.store import FileArchive
from auditstream.errors import ConfigError
from auditstream.witness.client import (
    Conflict,
    Cosigned,
    Reason,
    Refused,
    Unavailable,
    Witness,
    interpret,
    request_body,
)
from tests.unit.test_cosignature import W1, W2, checkpoint

WITNESS = Witness("http://127.0.0.1:9/w", W1.verifier)


def test_the_request_is_the_spec_one() -> None:
    signed = checkpoint(10)
    proof = [bytes(32), bytes(range(32))]
    body = request_body(4, proof, signed)
    head, _, rest = body.partition(b"\n\n")
    lines = head.decode().split("\n")
    assert lines[0] == "old 4"
    assert [base64.b64decode(x) for x in lines[1:]] == proof
    assert rest == signed
    assert request_body(0, [], signed) == b"old 0\n\n" + signed
    with pytest.raises(ValueError, match="longer than 63"):
        request_body(4, [bytes(32)] * 64, signed)


def test_a_valid_cosignature_reply_is_kept() -> None:
    signed = checkpoint(10)
    reply = W1.line(signed, 1_700_000_123)
    result = interpret(200, "text/plain", reply, WITNESS, signed)
    assert result == Cosigned(reply, 1_700_000_123)


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (b"", "no cosignature by w1.example/w"),
        (W2.line(checkpoint(10)), "no cosignature by w1.example/w"),  # another witness
        (W1.line(checkpoint(11)), "does not verify"),  # of another checkpoint
        (b"\xff\xfe not a signature\n", "no valid cosignature lines"),
    ],
)
def test_a_200_without_a_valid_cosignature_is_a_refusal(reply: bytes, detail: str) -> None:
    result = interpret(200, "text/plain", reply, WITNESS, checkpoint(10))
    assert isinstance(result, Refused) and result.reason is Reason.BAD_COSIGNATURE
    assert detail in result.detail


def test_statuses_map_to_what_they_mean() -> None:
    signed = checkpoint(10)
    assert interpret(409, "text/x.tlog.size", b"7\n", WITNESS, signed) == Conflict(7)
    bad_409 = interpret(409, "text/plain", b"7\n", WITNESS, signed)
    assert isinstance(bad_409, Refused) and "409 without a tree size" in bad_409.detail
    assert isinstance(interpret(409, "text/x.tlog.size", b"x", WITNESS, signed), Refused)
    for status, reason in [
        (400, Reason.BAD_REQUEST),
        (403, Reason.FORBIDDEN),
        (404, Reason.UNKNOWN_LOG),
        (422, Reason.INCONSISTENT),
        (418, Reason.REFUSED),
    ]:
        result = interpret(status, "text/plain", b"why", WITNESS, signed)
        assert isinstance(result, Refused) and result.reason is reason
        assert result.detail == f"HTTP {status}: why"
    assert isinstance(interpret(503, "", b"", WITNESS, signed), Unavailable)
    assert isinstance(interpret(429, "", b"", WITNESS, signed), Unavailable)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http://127.0.0.1:9", "URL=VKEY"),
        (f"ftp://x={W1.verifier.encode()}", "not an http:// or https:// URL"),
        (f"http://x/?a=1={W1.verifier.encode()}", "no query"),
        ("http://x=w+00+AA", "witness key"),
    ],
)
def test_bad_witness_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Witness.parse(spec)


def get(app: TlogApp, path: str, method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_the_app_serves_tlog_objects_only(tmp_path: Path) -> None:
    store = FileArchive(tmp_path)
    store.replace("v1/tlog/acme/acme~0/checkpoint", b"note\n")
    store.put("v1/tlog/acme/acme~0/tile/0/000", bytes(32 * 256), retain_until=None)
    store.put("v1/tlog/acme/acme~0/tile/0/001.p/5", bytes(32 * 5), retain_until=None)
    store.put("v1/segments/acme/secret.seg", b"audit content", retain_until=None)
    (tmp_path / "v1/tlog/acme/acme~0/checkpoint.tmp").write_bytes(b"half")
    app = TlogApp(store)

    status, headers, body = get(app, "/v1/tlog/acme/acme~0/checkpoint")
    assert (status, body) == (200, b"note\n")
    assert headers[b"cache-control"] == b"no-cache"
    status, headers, body = get(app, "/v1/tlog/acme/acme~0/tile/0/000")
    assert status == 200 and len(body) == 32 * 256
    assert headers[b"content-type"] == b"application/octet-stream"
    assert b"immutable" in headers[b"cache-control"]
    status, headers, _ = get(app, "/v1/tlog/acme/acme~0/tile/0/001.p/5")
    assert status == 200 and headers[b"cache-control"] == b"no-cache"
    status, headers, body = get(app, "/v1/tlog/acme/acme~0/checkpoint", "HEAD")
    assert (status, body, headers[b"content-length"]) == (200, b"", b"5")

    for path in [
        "/v1/segments/acme/secret.seg",  # audit content is never served
        "/v1/tlog/../segments/acme/secret.seg",
        "/v1/tlog/acme/acme~0/checkpoint.tmp",
        "/v1/tlog/acme",  # a folder
        "/v1/tlog/acme/acme~0/nothing",
        "/v1/tlog//acme",
        "/%00",
    ]:
        assert get(app, path)[0] == 404, path
    assert get(app, "/v1/tlog/acme/acme~0/checkpoint", "PUT")[0] == 405
    assert get(app, "/v1/tlog/acme/acme~0/checkpoint", "DELETE")[0] == 405


def test_the_app_works_under_a_mount_point(tmp_path: Path) -> None:
    store = FileArchive(tmp_path)
    store.replace("v1/tlog/vkeys", b"k\n")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/tlog/v1/tlog/vkeys", "root_path": "/tlog"}
    asyncio.run(TlogApp(store)(scope, receive, send))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"k\n"
