"""Where archive objects live: an S3 bucket with Object Lock, or a local directory.

Both are write-once: putting a key that exists is a no-op when the bytes are the same
and an error when they differ, so a replay can never leave a second, different copy.
The one exception is `replace`, for pointers such as a log's latest checkpoint, whose
history is written once elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from auditstream.archive import s3 as s3util

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
from auditstream.errors import AuditStreamError, ConfigError
from auditstream.settings.config import S3Settings


class ArchiveConflictError(AuditStreamError):
    """A key exists with other content than what was to be written."""


class ArchiveStore(Protocol):
    url: str

    def put(
        self, key: str, data: bytes, *, retain_until: dt.datetime | None, legal_hold: bool = False
    ) -> bool:
        """Write once; True if written, False if identical bytes were already there."""

    def replace(self, key: str, data: bytes) -> None:
        """Write or overwrite a pointer object (not locked; S3 keeps old versions)."""

    def get(self, key: str) -> bytes | None: ...

    def list(self, prefix: str) -> Iterator[str]: ...

    def folders(self, prefix: str) -> tuple[str, ...]:
        """The names of the folders directly under `prefix` (which ends in `/`)."""

    def delete(self, key: str) -> None: ...


class FileArchive:
    """The archive layout in a local directory; files are made read-only. Retention is
    applied by `auditstream retention apply`, which reads the manifests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.resolve().as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ConfigError(f"archive key {key!r} escapes the archive")
        return path

    def put(
        self, key: str, data: bytes, *, retain_until: dt.datetime | None, legal_hold: bool = False
    ) -> bool:
        path = self._path(key)
        if path.exists():
            if path.read_bytes() == data:
                return False
            raise ArchiveConflictError(f"{key} exists with different content")
        self._write(path, data)
        return True

    def replace(self, key: str, data: bytes) -> None:
        self._write(self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Durably put `data` at `path`, atomically (a reader sees old or new bytes)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o444)
        tmp.replace(path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.exists() else None

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix
        start = base if base.is_dir() else base.parent
        if not start.exists():
            return
        for path in sorted(start.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def folders(self, prefix: str) -> tuple[str, ...]:
        base = self.root / prefix
        if not base.is_dir():
            return ()
        return tuple(sorted(path.name for path in base.iterdir() if path.is_dir()))

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.chmod(0o644)
        path.unlink()


class S3Archive:
    """A bucket with versioning and Object Lock. Every object gets COMPLIANCE retention
    until its `retain_until`, and a legal hold when asked."""

    def __init__(self, bucket: str, prefix: str, settings: S3Settings) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.client: S3Client = s3util.client(settings)

    def put(
        self, key: str, data: bytes, *, retain_until: dt.datetime | None, legal_hold: bool = False
    ) -> bool:
        full = self.prefix + key
        digest = hashlib.sha256(data).hexdigest()
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if s3util.error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise
        else:
            if head.get("Metadata", {}).get("sha256") == digest:
                return False
            raise ArchiveConflictError(f"{self.url}{key} exists with different content")
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": full,
            "Body": data,
            "Metadata": {"sha256": digest},
        }
        if retain_until is not None:
            kwargs |= {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        if legal_hold:
            kwargs["ObjectLockLegalHoldStatus"] = "ON"
        self.client.put_object(**kwargs)
        return True

    def replace(self, key: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, Metadata={"sha256": digest}
        )

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if s3util.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return bytes(response["Body"].read())

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"])[len(self.prefix) :]

    def folders(self, prefix: str) -> tuple[str, ...]:
        paginator = self.client.get_paginator("list_objects_v2")
        start = self.prefix + prefix
        names = [
            str(item["Prefix"])[len(start) :].rstrip("/")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start, Delimiter="/")
            for item in page.get("CommonPrefixes", [])
        ]
        return tuple(sorted(names))

    def delete(self, key: str) -> None:
        """Adds a delete marker; locked versions stay (S3 refuses to remove them)."""
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)


def open_archive(
    url: str, s3: S3Settings | None = None, *, must_exist: bool = False
) -> FileArchive | S3Archive:
    """The archive at `url`. `must_exist` (readers): a `file://` folder that is not there
    is an error instead of an empty archive."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        root = Path(urllib.parse.unquote(parsed.path))
        if must_exist and not root.is_dir():
            raise ConfigError(f"no archive at {root} (from {url!r}): nothing to read")
        return FileArchive(root)
    if parsed.scheme == "s3":
        return S3Archive(parsed.netloc, parsed.path, s3 or S3Settings())
    raise ConfigError(f"archive URL must be file:///path or s3://bucket/prefix, not {url!r}")
