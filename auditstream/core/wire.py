"""Protobuf wire encoding by hand, for the few messages sealing writes per event.

The sealed formats are serialized here rather than through message objects: building a
message per event costs more than the hashing. What these functions write is what upb
writes with `SerializeToString(deterministic=True)`, field for field (fields in number
order, proto3 defaults left out, a submessage that is set written even when empty);
tests/unit/test_wire.py holds them to it on the workload and on crafted records.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from auditstream.errors import FormatError

# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799
NANOS = 1_000_000_000

_ONE = [bytes([n]) for n in range(128)]
_TWO = [bytes([n & 0x7F | 0x80, n >> 7]) for n in range(128, 1 << 14)]
_LOW = [bytes([n & 0x7F | 0x80, n >> 7 | 0x80]) for n in range(1 << 14)]  # 14 bits, more follow


def varint(value: int) -> bytes:
    """An unsigned varint; negative int32/int64 values are written as 64-bit two's
    complement (ten bytes), as protobuf does. Values below 2**42 (lengths, seqs, offsets,
    times) are put together from tables of 14-bit groups."""
    if 0 <= value < 128:
        return _ONE[value]
    if 0 < value < 1 << 14:
        return _TWO[value - 128]
    if 0 < value < 1 << 28:
        high = value >> 14
        return _LOW[value & 0x3FFF] + (_ONE[high] if high < 128 else _TWO[high - 128])
    if 0 < value < 1 << 42:
        high = value >> 28
        return (
            _LOW[value & 0x3FFF]
            + _LOW[value >> 14 & 0x3FFF]
            + (_ONE[high] if high < 128 else _TWO[high - 128])
        )
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise FormatError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_delimited(number: int, data: bytes) -> bytes:
    """Field `number` holding `data` (bytes, a string or a message), however short."""
    return _TAGS[number][2] + varint(len(data)) + data


def optional_bytes(number: int, data: bytes) -> bytes:
    """A proto3 string or bytes field: left out when empty."""
    return _TAGS[number][2] + varint(len(data)) + data if data else b""


def optional_varint(number: int, value: int) -> bytes:
    """A proto3 integer, enum or bool field: left out when zero."""
    return _TAGS[number][0] + varint(value) if value else b""


def repeated_bytes(number: int, items: Iterable[bytes]) -> bytes:
    prefix = _TAGS[number][2]
    return b"".join(prefix + varint(len(item)) + item for item in items)


# The tags of fields 1..15 (one byte each), by wire type 0 (varint) and 2 (length).
_TAGS = {number: {0: tag(number, 0), 2: tag(number, 2)} for number in range(1, 16)}


@functools.lru_cache(maxsize=256)
def _seconds_field(seconds: int) -> bytes:
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"timestamp of {seconds} s is outside 0001..9999")
    return optional_varint(1, seconds)


def timestamp(nanoseconds: int) -> bytes:
    """The body of a google.protobuf.Timestamp for `nanoseconds` since the epoch, as
    `Timestamp.FromNanoseconds` sets it (raises ValueError outside its range)."""
    seconds, nanos = divmod(nanoseconds, NANOS)
    # The seconds field is cached: the times of a stream's events share their seconds.
    return _seconds_field(seconds) + (b"\x10" + varint(nanos) if nanos else b"")
