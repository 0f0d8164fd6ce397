"""Dead letters: masked copies, and originals only the operator's key opens."""

from __future__ import annotations

import pytest

from auditstream.core.deadletter import DeadLetterKey, DeadLetterRecipient, build_dead_letter
from auditstream.core.detectors import default_scanner
from auditstream.core.validate import RawRecord, Rejected
from auditstream.errors import FormatError, KeyMaterialError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings import keyfiles
from tests.support.secrets_corpus import AWS_ID

KEY = DeadLetterKey.generate("dlq-1")
CARD = b"4111 1111 1111 1111"
VALUE = b"\x08\xff junk " + AWS_ID.encode() + b" paid " + CARD + b"\x00"


def letter(
    value: bytes = VALUE,
    headers: tuple[tuple[str, bytes], ...] = (),
    detail: str = "not a LogEntry",
    recipient: DeadLetterRecipient | None = KEY.recipient,
) -> sealed.DeadLetter:
    record = RawRecord("audit.raw.v1", 1, 42, 1_767_225_600_000, b"acme", value, headers)
    data = build_dead_letter(
        record,
        Rejected(sealed.DEAD_LETTER_REASON_UNPARSEABLE, detail),
        5,
        default_scanner(),
        recipient,
    )
    return sealed.DeadLetter.FromString(data)


def test_the_stored_copy_is_masked_byte_for_byte() -> None:
    found = letter()
    assert AWS_ID.encode() not in found.original_value and CARD not in found.original_value
    assert len(found.original_value) == len(VALUE)
    assert found.original_value.startswith(b"\x08\xff junk ****")
    kinds = {(d.kind, d.field) for d in found.detections}
    assert kinds == {("aws_access_key", "value"), ("card_number", "value")}


def test_the_operator_opens_the_original() -> None:
    found = letter(headers=(("traceparent", b"00-ab"),))
    original = KEY.open(found)
    assert (original.key, original.value) == (b"acme", VALUE)
    assert [(h.key, h.value) for h in original.headers] == [("traceparent", b"00-ab")]
    assert found.sealed_original.key_id == "dlq-1"
    assert VALUE not in found.SerializeToString()


def test_headers_and_detail_are_masked_too() -> None:
    found = letter(
        headers=(
            ("x-api-key", b"plain-value"),
            ("authorization", b"Bearer abcdefghijklmnop1234"),
            ("x-request", b"Bearer abcdefghijklmnop1234"),
        ),
        detail=f"field message: {AWS_ID}",
    )
    values = {h.key: h.value for h in found.original_headers}
    assert values["x-api-key"] == b"*" * len(b"plain-value")
    # A header that names a secret is masked whole, whatever its value looks like.
    assert values["authorization"] == b"*" * len(b"Bearer abcdefghijklmnop1234")
    assert values["x-request"] == b"Bearer " + b"*" * 20
    assert AWS_ID not in found.detail and "[REDACTED:aws_access_key]" in found.detail


def test_another_key_or_an_altered_letter_does_not_open() -> None:
    found = letter()
    with pytest.raises(KeyMaterialError, match="sealed for key 'dlq-1'"):
        DeadLetterKey.generate("dlq-2").open(found)
    with pytest.raises(FormatError, match="does not decrypt"):
        DeadLetterKey.generate("dlq-1").open(found)
    moved = sealed.DeadLetter()
    moved.CopyFrom(found)
    moved.source.offset = 43  # the same ciphertext claimed for another record
    with pytest.raises(FormatError, match="does not decrypt"):
        KEY.open(moved)


def test_without_a_recipient_no_original_is_kept() -> None:
    found = letter(recipient=None)
    assert not found.HasField("sealed_original")
    with pytest.raises(FormatError, match="no encrypted original"):
        KEY.open(found)


def test_key_files_round_trip_and_never_show_the_private_key(tmp_path: object) -> None:
    from pathlib import Path  # noqa: PLC0415

    folder = Path(str(tmp_path))
    made = keyfiles.write_new_dead_letter_key(folder / "dl.key", "ops")
    assert (folder / "dl.key").stat().st_mode & 0o077 == 0
    private = keyfiles.load_dead_letter_key(folder / "dl.key")
    public = keyfiles.load_dead_letter_recipient(folder / "dl.key.pub")
    assert public == made.recipient == private.recipient
    secret_part = private.encode_private().rsplit("+", 1)[1]
    assert secret_part not in repr(private) and secret_part not in repr(public)
    with pytest.raises(KeyMaterialError, match="already exists"):
        keyfiles.write_new_dead_letter_key(folder / "dl.key", "ops")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("junk", "not a dead-letter public key"),
        ("auditstream-deadletter-key+ops+!!!", "not base64"),
        ("auditstream-deadletter-key+ops+AAAA", "expected 32 bytes"),
        ("auditstream-deadletter-key+bad id+" + "A" * 43 + "=", "dead-letter key id"),
        (DeadLetterKey.generate("x").encode_private(), "private key: give the worker the .pub"),
    ],
)
def test_bad_public_keys_are_refused_without_echoing_them(text: str, says: str) -> None:
    with pytest.raises(KeyMaterialError, match=says) as caught:
        keyfiles.load_dead_letter_recipient(
            env={keyfiles.DEAD_LETTER_KEY_ENV: text} if text else {}
        )
    if text:
        assert text.rsplit("+", 1)[-1] not in str(caught.value)


def test_no_key_names_the_ways_to_give_one() -> None:
    with pytest.raises(KeyMaterialError, match="--dead-letter-key"):
        keyfiles.load_dead_letter_recipient(env={})
