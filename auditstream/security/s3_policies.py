"""IAM policies for the archive bucket: a writer that can add objects and their
retention but never delete, expire or unlock anything, and a reader for verifiers.

Object Lock COMPLIANCE already stops everyone, the root user included, from deleting a
locked version or shortening its retention; these policies also keep the writer away
from what is not locked yet (delete markers, versions, the bucket's lifecycle, locking
and versioning settings, governance bypass). A new version written over a key does not
replace the locked one: verification reads what the checkpoints commit to and flags
other bytes. The documents are standard IAM JSON, for `mc admin policy create` (MinIO)
or an AWS IAM role.
"""

from __future__ import annotations

from typing import Any

WRITER_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:GetObject",
    "s3:GetObjectRetention",
    "s3:GetObjectLegalHold",
)
READER_ACTIONS = ("s3:GetObject", "s3:GetObjectRetention", "s3:GetObjectLegalHold")
BUCKET_READ_ACTIONS = (
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetLifecycleConfiguration",
)


def _document(bucket: str, prefix: str, object_actions: tuple[str, ...]) -> dict[str, Any]:
    objects = f"arn:aws:s3:::{bucket}/{prefix.strip('/') + '/' if prefix.strip('/') else ''}*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ArchiveBucket",
                "Effect": "Allow",
                "Action": list(BUCKET_READ_ACTIONS),
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Sid": "ArchiveObjects",
                "Effect": "Allow",
                "Action": list(object_actions),
                "Resource": [objects],
            },
        ],
    }


def archive_writer_policy(bucket: str, prefix: str = "") -> dict[str, Any]:
    """What the archive sink needs: put objects (with their lock and retention) and read
    them back; no Delete*, no BypassGovernanceRetention, no bucket configuration."""
    return _document(bucket, prefix, WRITER_ACTIONS)


def archive_reader_policy(bucket: str, prefix: str = "") -> dict[str, Any]:
    """What `auditstream verify --archive` and replays need: read only."""
    return _document(bucket, prefix, READER_ACTIONS)
