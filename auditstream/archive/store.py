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
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from auditstream.archive import s3 as s3util
from auditstream.errors import AuditStreamError, ConfigError
from auditstream.settings.config import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


# A conditional PUT refused because the key exists (412), or because another conditional
# write of it is under way (409 on AWS); and what services without conditional writes say.
_KEY_EXISTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_NO_CONDITIONAL_WRITES = frozenset({"NotImplemented", "501"})


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
            return self._same(key, path, data)
        tmp = self._temporary(path, data)
        # Linked into place: the link fails if the key appeared meanwhile, so two
        # writers of one key cannot both succeed.
        try:
            os.link(tmp, path)
        except FileExistsError:
            return self._same(key, path, data)
        finally:
            tmp.unlink()
        self._sync_folder(path)
        return True

    def replace(self, key: str, data: bytes) -> None:
        """Put `data` at `key` whether or not it exists, atomically (a reader sees the
        old or the new bytes)."""
        path = self._path(key)
        self._temporary(path, data).replace(path)
        self._sync_folder(path)

    @staticmethod
    def _temporary(path: Path, data: bytes) -> Path:
        """`data` durably in a read-only temporary file beside `path`, one per writer."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o444)
        return tmp

    @staticmethod
    def _sync_folder(path: Path) -> None:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @staticmethod
    def _same(key: str, path: Path, data: bytes) -> bool:
        if path.read_bytes() == data:
            return False
        raise ArchiveConflictError(f"{key} exists with different content")

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
    until its `retain_until`, and a legal hold when asked.

    A put is one conditional request (`If-None-Match: *`: write only if the key is new),
    so the common case, a new key, costs no HEAD first. Only when the key exists is it
    read back to tell a replay (same bytes, by the SHA-256 kept in its metadata) from a
    conflict. A service that does not implement conditional writes answers
    NotImplemented; from then on this archive asks with a HEAD first.
    """

    def __init__(self, bucket: str, prefix: str, settings: S3Settings) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.client: S3Client = s3util.client(settings)
        self._conditional = True

    def put(
        self, key: str, data: bytes, *, retain_until: dt.datetime | None, legal_hold: bool = False
    ) -> bool:
        full = self.prefix + key
        digest = hashlib.sha256(data).hexdigest()
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
        if self._conditional:
            for _ in range(3):
                try:
                    self.client.put_object(**kwargs, IfNoneMatch="*")
                    return True
                except ClientError as exc:
                    code = s3util.error_code(exc)
                    if code not in _KEY_EXISTS:
                        if code not in _NO_CONDITIONAL_WRITES:
                            raise
                        self._conditional = False
                        break
                if self._existing(key, digest):
                    return False
                # A write of the same key raced this one and did not land: once more.
            else:
                raise ArchiveConflictError(f"{self.url}{key}: concurrent writes kept failing")
        if self._existing(key, digest):
            return False
        self.client.put_object(**kwargs)
        return True

    def replace(self, key: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, Metadata={"sha256": digest}
        )

    def _existing(self, key: str, digest: str) -> bool:
        """True if `key` holds the bytes with this SHA-256, False if it is not there;
        raises `ArchiveConflictError` if it holds others."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if s3util.error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise
            return False
        if head.get("Metadata", {}).get("sha256") == digest:
            return True
        raise ArchiveConflictError(f"{self.url}{key} exists with different content")

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
