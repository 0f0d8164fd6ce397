"""A durable local spool: every event is written here before Kafka sees it.

Segment files `<first-seq>.seg` hold records

    u32 length | u32 crc32(body) | u64 seq | body
    body = u16 len + topic | u32 len + key (0xFFFFFFFF: none) | u32 len + value
           | u16 header count | (u16 len + name | u32 len + value)...

copied into a memory-mapped, preallocated segment: once `append` returns, the bytes are
in the kernel's page cache, so a killed process loses nothing, and no system call is
made per event. A zero length marks the end of the data. `fsync` decides what survives
a machine crash: "always" syncs in every append, "interval" from a background thread,
"never" leaves it to the OS. `ack.json`
holds the lowest seq not yet acknowledged by Kafka; on start, everything from there
on is replayed in seq order. A torn record at the end of a segment (a crash mid-write)
is detected by its checksum and ignored; earlier corruption raises.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from auditstream.errors import AuditStreamError

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">IIQ")
_HEAD_SIZE = _HEAD.size
_NO_KEY = 0xFFFFFFFF
_U32 = struct.Struct(">I").pack
_NO_KEY_BYTES = _U32(_NO_KEY)
SEGMENT_BYTES = 64 * 1024 * 1024
FsyncPolicy = Literal["always", "interval", "never"]
FSYNC_POLICIES: Final = ("always", "interval", "never")


class SpoolError(AuditStreamError):
    """The spool is unreadable (corrupt in the middle) or unwritable."""


class SpoolFullError(SpoolError):
    """The spool reached its size cap."""


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    seq: int
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def _fixed_parts(topic: str, headers: Sequence[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    """The encoded topic (before the key) and headers (after the value)."""
    t = topic.encode()
    parts = [struct.pack(">H", len(headers))]
    for name, data in headers:
        n = name.encode()
        parts += [struct.pack(">H", len(n)), n, _U32(len(data)), data]
    return struct.pack(">H", len(t)) + t, b"".join(parts)


def decode_body(seq: int, body: bytes) -> SpooledRecord:
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, body, pos)
        pos += struct.calcsize(fmt)
        return int(value)

    def chunk(size: int) -> bytes:
        nonlocal pos
        data = body[pos : pos + size]
        pos += size
        return data

    topic = chunk(take(">H")).decode()
    key_len = take(">I")
    key = None if key_len == _NO_KEY else chunk(key_len)
    value = chunk(take(">I"))
    headers = []
    for _ in range(take(">H")):
        name = chunk(take(">H")).decode()
        headers.append((name, chunk(take(">I"))))
    return SpooledRecord(seq, topic, key, value, tuple(headers))


class Spool:
    """Append-only, checksummed, segment-rotated. Thread-safe. `Spool.open` reads an
    existing spool (or creates the folder); the constructor does no IO."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1024**3,
        fsync: FsyncPolicy = "interval",
        fsync_interval_s: float = 1.0,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}")
        self.dir = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_s
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._map_size = 0  # 0 without a map: the first append opens one
        self._segment_path: Path | None = None
        self._segment_size = 0
        self._resume: tuple[Path, int] | None = None
        self._encoded: dict[tuple[str, tuple[tuple[str, bytes], ...]], tuple[bytes, bytes]] = {}
        self._last_sync = time.monotonic()
        self.acked_below = 0
        self.next_seq = 0
        self._used: dict[str, int] = {}  # bytes in use per segment (they are preallocated)
        self.bytes = 0

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 1024**3,
        fsync: FsyncPolicy = "interval",
        fsync_interval_s: float = 1.0,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> Spool:
        """The spool in `directory`: created if missing, else read back (the ack point,
        the end of the last intact record; a torn tail is cleared)."""
        spool = cls(
            Path(directory),
            max_bytes=max_bytes,
            fsync=fsync,
            fsync_interval_s=fsync_interval_s,
            segment_bytes=segment_bytes,
        )
        spool.dir.mkdir(parents=True, exist_ok=True)
        spool.acked_below = spool._read_ack()
        spool.next_seq = spool._scan_end()
        spool._used = {p.name: len(p.read_bytes().rstrip(b"\0")) for p in spool._segments()}
        spool.bytes = sum(spool._used.values())
        return spool

    # -- files -------------------------------------------------------------------
    def _segments(self) -> list[Path]:
        return sorted(self.dir.glob("*.seg"), key=lambda p: int(p.stem))

    def _read_ack(self) -> int:
        try:
            return int(json.loads((self.dir / "ack.json").read_text())["acked_below"])
        except (OSError, ValueError, KeyError):
            return 0

    def _scan_end(self) -> int:
        """The seq after the last intact record; cuts off a torn tail left by a crash."""
        segments = self._segments()
        if not segments:
            return self.acked_below
        tail = segments[-1]
        last = int(tail.stem) - 1
        end = 0
        for record, position in self._walk(tail, final=True):
            last, end = record.seq, position
        data = tail.read_bytes()
        if data[end:].strip(b"\0"):
            log.warning("spool %s: torn record at the end cleared", tail.name)
            with tail.open("r+b") as handle:
                handle.seek(end)
                handle.write(bytes(len(data) - end))
        self._resume = (tail, end)
        return max(last + 1, self.acked_below)

    def _records(self, segments: Sequence[Path]) -> Iterator[SpooledRecord]:
        for index, path in enumerate(segments):
            for record, _ in self._walk(path, final=index == len(segments) - 1):
                yield record

    @staticmethod
    def _walk(path: Path, *, final: bool) -> Iterator[tuple[SpooledRecord, int]]:
        """Records of one segment with the byte position after each. In the final
        segment a last record that runs to the end and fails its checksum is a write
        cut short by a crash, and is skipped; anything else that fails is corruption."""
        data = path.read_bytes()

        def used() -> int:
            # Preallocated segments end in zeros. Only asked on the rare paths: stripping
            # megabytes of them holds the GIL, and the spool is read while callers log.
            return len(data.rstrip(b"\0"))

        pos = 0
        while pos + _HEAD.size <= len(data):
            length, crc, seq = _HEAD.unpack_from(data, pos)
            if length == 0:
                if not final and pos < used():
                    raise SpoolError(f"spool segment {path.name} is corrupt at byte {pos}")
                return
            end = pos + _HEAD.size + length
            body = data[pos + _HEAD.size : end]
            if len(body) == length and zlib.crc32(body) == crc:
                yield decode_body(seq, body), end
                pos = end
                continue
            # A copy cut short by a crash can only be the last thing written.
            if final and used() <= end:
                return
            raise SpoolError(f"spool segment {path.name} is corrupt at byte {pos}")

    # -- writing -----------------------------------------------------------------
    def append(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> int:
        """Append one record, durable against a killed process once this returns (and
        against a machine crash per the fsync policy); returns its seq."""
        cache_key = (topic, tuple(headers))
        fixed = self._encoded.get(cache_key)
        if fixed is None:
            fixed = self._encoded[cache_key] = _fixed_parts(topic, headers)
        return self._write(fixed[0], fixed[1], key, value)

    def appender(
        self, topic: str, headers: Sequence[tuple[str, bytes]]
    ) -> Callable[[bytes | None, bytes], int]:
        """`append` for records that all have this topic and these headers, which are
        encoded once: `appender(topic, headers)(key, value)`."""
        before, after = _fixed_parts(topic, headers)
        return functools.partial(self._write, before, after)

    def _write(self, before: bytes, after: bytes, key: bytes | None, value: bytes) -> int:
        key_part = _NO_KEY_BYTES if key is None else _U32(len(key)) + key
        body = b"".join((before, key_part, _U32(len(value)), value, after))
        crc = zlib.crc32(body)
        size = _HEAD_SIZE + len(body)
        with self._lock:
            if self.bytes + size > self.max_bytes:
                raise SpoolFullError(
                    f"spool at {self.dir} reached its cap of {self.max_bytes} bytes"
                )
            position = self._segment_size
            if position + size + _HEAD_SIZE > self._map_size:  # room for the end marker
                self._rotate(size)
                position = self._segment_size
            assert self._map is not None
            seq = self.next_seq
            self._map[position : position + size] = _HEAD.pack(len(body), crc, seq) + body
            self.next_seq = seq + 1
            self._segment_size = position + size
            self.bytes += size
            if self.fsync == "always":
                self._map.flush()
            return seq

    def _rotate(self, needed: int) -> None:
        """Open the segment to write: the tail found at start, else a new one."""
        self._close_segment()
        if self._resume is not None:
            path, used = self._resume
            self._resume = None
            if path.stat().st_size - used > needed + _HEAD.size:
                self._open_segment(path, used)
                return
        path = self.dir / f"{self.next_seq}.seg"
        size = max(self.segment_bytes, needed + 2 * _HEAD.size)
        with path.open("wb") as handle:
            handle.truncate(size)
        self._open_segment(path, 0)

    def _open_segment(self, path: Path, used: int) -> None:
        self._segment_path = path
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, 0)
        self._map_size = len(self._map)
        self._segment_size = used

    def _close_segment(self) -> None:
        if self._segment_path is not None:
            self._used[self._segment_path.name] = self._segment_size
            self._segment_path = None
        if self._map is not None:
            self._map.flush()
            self._map.close()
            self._map = None
            self._map_size = 0
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def sync_if_due(self) -> None:
        """For the "interval" policy: fsync if the interval has passed. Called from a
        background thread, so no caller ever waits on the disk."""
        if self.fsync != "interval" or time.monotonic() - self._last_sync < self.fsync_interval_s:
            return
        with self._lock:  # a duplicate descriptor survives a concurrent rotation
            fd = os.dup(self._fd) if self._fd >= 0 else -1
        self._last_sync = time.monotonic()
        if fd >= 0:
            try:
                # fsync writes back the file's dirty pages, those of the mapping included;
                # outside the lock, so appends never wait for the disk.
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- reading and acknowledging -------------------------------------------------
    def pending(self, start: int | None = None) -> Iterator[SpooledRecord]:
        """Records from `start` (default: the ack point) to the end, in seq order."""
        first = self.acked_below if start is None else start
        with self._lock:
            segments = self._segments()
        for record in self._records(segments):
            if record.seq >= first:
                yield record

    def acknowledge(self, acked_below: int) -> None:
        """Everything below `acked_below` is in Kafka: persist that, drop old segments.
        Called from one background thread; appends do not wait for its file work."""
        if acked_below <= self.acked_below:
            return
        tmp = self.dir / "ack.json.tmp"
        tmp.write_text(json.dumps({"acked_below": acked_below}))
        tmp.replace(self.dir / "ack.json")
        self.acked_below = acked_below
        done = [
            path
            for path, following in itertools.pairwise(self._segments())
            if int(following.stem) <= acked_below
        ]
        for path in done:
            path.unlink()
            with self._lock:
                self.bytes -= self._used.pop(path.name, 0)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
            self._close_segment()
