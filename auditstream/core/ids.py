"""Derived event ids (pure)."""

from __future__ import annotations


def uuid7_from(now_ns: int, rand: bytes) -> str:
    """The UUIDv7 whose 74 random bits are taken from `rand` (10 bytes): the same
    inputs give the same id (for ids derived from something else, as span ids)."""
    bits = int.from_bytes(rand[:10], "big")
    value = (now_ns // 1_000_000 & (1 << 48) - 1) << 80
    value |= 0x7 << 76 | (bits >> 64 & 0x0FFF) << 64  # 12 random bits after the version
    value |= 0b10 << 62 | bits & ((1 << 62) - 1)  # variant, then 62 random bits
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
