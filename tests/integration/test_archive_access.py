"""Least privilege on the archive bucket (MinIO, real IAM evaluation): the writer's
credentials add objects with their retention and can destroy nothing; the reader's can
only read. Credentials come from MinIO's STS with the policy `auditstream archive policy`
prints as the session policy."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from auditstream.archive import s3
from auditstream.archive.store import S3Archive
from auditstream.devstack.minio import scoped_credentials
from auditstream.security.s3_policies import archive_reader_policy, archive_writer_policy
from auditstream.settings.config import S3Settings

pytestmark = pytest.mark.integration
PREFIX = "audit"


def refused(action: Callable[[], Any]) -> str:
    """The S3 error code of an action that must fail."""
    with pytest.raises(ClientError) as raised:
        action()
    return s3.error_code(raised.value)


def test_the_archive_writer_can_add_but_not_delete_overwrite_or_shorten(
    s3_settings: S3Settings, lock_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditstream.cli import main  # noqa: PLC0415

    assert main(["archive", "policy", "--archive", f"s3://{lock_bucket}/{PREFIX}"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == archive_writer_policy(lock_bucket, PREFIX)
    writer = scoped_credentials(s3_settings, printed)
    archive = S3Archive(lock_bucket, PREFIX, writer)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert archive.put("seg/0001.seg", b"sealed bytes", retain_until=until)
    archive.replace("log/checkpoint", b"checkpoint 1")  # a tlog checkpoint is mutable
    assert archive.get("seg/0001.seg") == b"sealed bytes"

    client = s3.client(writer)
    key = f"{PREFIX}/seg/0001.seg"
    version = client.head_object(Bucket=lock_bucket, Key=key)["VersionId"]
    assert refused(lambda: client.delete_object(Bucket=lock_bucket, Key=key)) == "AccessDenied"
    assert (
        refused(lambda: client.delete_object(Bucket=lock_bucket, Key=key, VersionId=version))
        == "AccessDenied"
    )
    shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": until - dt.timedelta(days=1)}
    assert refused(
        lambda: client.put_object_retention(
            Bucket=lock_bucket, Key=key, VersionId=version, Retention=shorter
        )
    ) in ("AccessDenied", "InvalidRequest")
    governance = {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    assert refused(
        lambda: client.put_object_retention(
            Bucket=lock_bucket,
            Key=key,
            VersionId=version,
            Retention=governance,
            BypassGovernanceRetention=True,
        )
    ) in ("AccessDenied", "InvalidRequest")
    assert (
        refused(
            lambda: client.put_bucket_lifecycle_configuration(
                Bucket=lock_bucket,
                LifecycleConfiguration={
                    "Rules": [
                        {"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}
                    ]
                },
            )
        )
        == "AccessDenied"
    )
    assert refused(lambda: client.delete_bucket(Bucket=lock_bucket)) == "AccessDenied"
    # "Overwriting" adds a version; the locked one keeps its bytes.
    client.put_object(Bucket=lock_bucket, Key=key, Body=b"forged")
    original = client.get_object(Bucket=lock_bucket, Key=key, VersionId=version)
    assert original["Body"].read() == b"sealed bytes"
    # Outside its prefix the writer can do nothing.
    assert (
        refused(lambda: client.put_object(Bucket=lock_bucket, Key="elsewhere", Body=b"x"))
        == "AccessDenied"
    )


def test_the_archive_reader_can_only_read(s3_settings: S3Settings, lock_bucket: str) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    S3Archive(lock_bucket, PREFIX, s3_settings).put("seg/1.seg", b"bytes", retain_until=until)
    reader = S3Archive(
        lock_bucket, PREFIX, scoped_credentials(s3_settings, archive_reader_policy(lock_bucket))
    )
    assert reader.get("seg/1.seg") == b"bytes"
    assert refused(lambda: reader.put("seg/2.seg", b"x", retain_until=until)) == "AccessDenied"
