"""S3 access shared by the archive sink, `archive init` and the dev stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from auditstream.errors import AuditStreamError
from auditstream.settings.config import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Error(AuditStreamError):
    """An S3 request failed; `code` is the S3 error code when there is one."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def client(settings: S3Settings) -> S3Client:
    """A boto3 S3 client for `settings` (path-style addressing, which MinIO needs)."""
    kwargs: dict[str, Any] = {
        "region_name": settings.region,
        "config": Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
    }
    if settings.endpoint:
        kwargs["endpoint_url"] = settings.endpoint
    if settings.access_key:
        kwargs["aws_access_key_id"] = settings.access_key.reveal()
        kwargs["aws_secret_access_key"] = settings.secret_key.reveal()
        if settings.session_token:
            kwargs["aws_session_token"] = settings.session_token.reveal()
    if settings.ca_bundle is not None:
        kwargs["verify"] = str(settings.ca_bundle)
    return boto3.client("s3", **kwargs)


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def ensure_lock_bucket(s3: S3Client, bucket: str) -> bool:
    """Create `bucket` with versioning and Object Lock, or check an existing one.

    Returns True when the bucket was created. Raises `S3Error` when an existing bucket
    lacks Object Lock (it cannot be enabled after creation on most S3 services).
    """
    created = False
    try:
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        created = True
    except ClientError as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise S3Error(f"cannot create bucket {bucket!r}: {exc}", error_code(exc)) from exc
    try:
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        raise S3Error(
            f"bucket {bucket!r} exists without Object Lock; archives need a bucket created "
            "with Object Lock enabled",
            error_code(exc),
        ) from exc
    if lock.get("ObjectLockEnabled") != "Enabled":
        raise S3Error(f"bucket {bucket!r} does not have Object Lock enabled")
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    if versioning.get("Status") != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return created
