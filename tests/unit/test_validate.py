"""Every kind of bad input is refused with its reason code; good input is accepted."""

from __future__ import annotations

import pytest

from auditstream.core import headers
from auditstream.core.validate import Accepted, Limits, Rejected, Validator
from auditstream.proto.compat.lokryn.v020 import log_request_pb2 as v020
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1.sealed_pb2 import DeadLetterReason as R
from tests.support.engine_kit import CONTENT, T0_MS, login, record

VALIDATOR = Validator(Limits(max_record_bytes=4096), CONTENT)


def reason(result: Accepted | Rejected) -> str:
    assert isinstance(result, Rejected), result
    return R.Name(result.reason)


def unknown_enum() -> bytes:
    entry = login(1)
    entry.event_type = 77  # type: ignore[assignment]
    return entry.SerializeToString()


@pytest.mark.parametrize(
    ("value", "key", "hdrs", "expected"),
    [
        (b"\xff\xff\xff", b"acme", (), "DEAD_LETTER_REASON_UNPARSEABLE"),
        (unknown_enum(), b"acme", (), "DEAD_LETTER_REASON_UNKNOWN_ENUM"),
        (
            pb.LogEntry(actor_id="a").SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_MISSING_FIELD",
        ),
        (
            pb.LogEntry(event_type=pb.EVENT_LOGIN).SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_MISSING_FIELD",
        ),
        (
            login(1, message="x" * 5000).SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_OVERSIZE",
        ),
        (
            login(1, payload=b"{not json").SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_INVALID_JSON_PAYLOAD",
        ),
        (
            login(1).SerializeToString(),
            b"acme",
            ((headers.MESSAGE_TYPE, b"avro.Thing"),),
            "DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE",
        ),
        (login(1).SerializeToString(), b"globex", (), "DEAD_LETTER_REASON_INVALID_CHAIN_KEY"),
        (login(1).SerializeToString(), b"bad key!", (), "DEAD_LETTER_REASON_INVALID_CHAIN_KEY"),
        (login(1).SerializeToString(), b"\xff", (), "DEAD_LETTER_REASON_INVALID_CHAIN_KEY"),
        (
            login(1, event_id="e\n1").SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_INVALID_FIELD",
        ),
        (
            login(1, producer_id="p" * 129, producer_seq=1).SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_INVALID_FIELD",
        ),
        (
            login(1, subject_ids=[f"s{n}" for n in range(17)]).SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_INVALID_FIELD",
        ),
        (
            login(1, subject_ids=["alice", ""]).SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_INVALID_FIELD",
        ),
        (
            login(1, producer_id="p\x1b[31m", producer_seq=1).SerializeToString(),
            b"acme",
            (),
            "DEAD_LETTER_REASON_INVALID_FIELD",
        ),
        (
            v020.LogRequest(event_type=13).SerializeToString(),
            b"acme",
            ((headers.MESSAGE_TYPE, headers.LOKRYN_V020.encode()),),
            "DEAD_LETTER_REASON_UNKNOWN_ENUM",
        ),
        (
            v020.LogRequest(duration_ms=2**60, event_type=1, actor_id="a").SerializeToString(),
            b"acme",
            ((headers.MESSAGE_TYPE, headers.LOKRYN_V020.encode()),),
            "DEAD_LETTER_REASON_ADAPTER_ERROR",
        ),
    ],
)
def test_bad_input_gets_its_reason(
    value: bytes, key: bytes, hdrs: tuple[tuple[str, bytes], ...], expected: str
) -> None:
    assert reason(VALIDATOR.check(record(0, value, key=key, headers=hdrs))) == expected


def test_time_skew() -> None:
    future = login(1)
    future.event_time.FromMilliseconds(T0_MS + 3_600_000)
    assert reason(VALIDATOR.check(record(0, future))) == "DEAD_LETTER_REASON_TIME_SKEW"
    old = login(1)
    old.event_time.FromMilliseconds(T0_MS - 86_400_000)
    assert isinstance(VALIDATOR.check(record(0, old)), Accepted)
    strict = Validator(Limits(max_age_s=3600), CONTENT)
    assert reason(strict.check(record(0, old))) == "DEAD_LETTER_REASON_TIME_SKEW"


def test_good_records_and_what_is_filled_in() -> None:
    result = VALIDATOR.check(record(5, login(1)))
    assert isinstance(result, Accepted) and result.chain_id == "acme" and result.unchanged
    shard = VALIDATOR.check(record(5, login(1), key=b"acme/shard2"))
    assert isinstance(shard, Accepted) and shard.chain_id == "acme/shard2"
    bare = pb.LogEntry(event_type=pb.EVENT_LOGIN, actor_id="u")  # a lokryn 0.1.1 record
    first = VALIDATOR.check(record(7, bare, key=None))
    again = VALIDATOR.check(record(7, bare, key=None))
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert first.chain_id == "default" and first.entry.tenant_id == "default"
    assert first.entry.event_id == again.entry.event_id != ""
    assert not first.unchanged and len(first.notes) == 2
