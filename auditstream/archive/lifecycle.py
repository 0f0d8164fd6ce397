"""Retention in storage: bucket setup, lifecycle rules per class, and applying retention
to a file archive."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from auditstream.archive import s3 as s3util
from auditstream.archive import segment as seg
from auditstream.archive.store import FileArchive, S3Archive
from auditstream.core.retention import Policy

if TYPE_CHECKING:
    from mypy_boto3_s3.literals import TransitionStorageClassType
    from mypy_boto3_s3.type_defs import LifecycleRuleTypeDef, TransitionTypeDef

log = logging.getLogger(__name__)
LONG_PREFIXES = ("v1/skeletons/", "v1/manifests/", "v1/checkpoints/")


def lifecycle_rules(policy: Policy, skeleton_days: int) -> list[LifecycleRuleTypeDef]:
    """Expire each class's segments after its days; skeletons, manifests and checkpoints
    after the longest class plus `skeleton_days`. A day more than the Object Lock date,
    so expiry never races it (S3 would refuse to delete a locked version anyway).

    The bucket is versioned, so expiring an object only puts a delete marker over it;
    each rule therefore also removes the hidden (noncurrent) version a day later, and a
    last rule clears the delete markers left with no versions under them. Nothing under
    `v1/tlog/` expires: a transparency log is not pruned without a policy for it."""
    rules: list[LifecycleRuleTypeDef] = []
    for retention_class in sorted(policy.classes.values(), key=lambda c: c.name):
        rule: LifecycleRuleTypeDef = {
            "ID": f"segments-{retention_class.name}",
            "Filter": {"Prefix": f"v1/segments/{retention_class.name}/"},
            "Status": "Enabled",
            "Expiration": {"Days": retention_class.days + 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        }
        if retention_class.transition_days:
            transition: TransitionTypeDef = {
                "Days": retention_class.transition_days,
                # The policy names an S3 storage class; S3 refuses one it does not know.
                "StorageClass": cast("TransitionStorageClassType", retention_class.storage_class),
            }
            rule["Transitions"] = [transition]
        rules.append(rule)
    long_days = policy.longest_days + skeleton_days + 1
    for prefix in LONG_PREFIXES:
        rules.append(
            {
                "ID": prefix.strip("/").replace("/", "-"),
                "Filter": {"Prefix": prefix},
                "Status": "Enabled",
                "Expiration": {"Days": long_days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            }
        )
    # Transparency-log objects are written once and kept; only the `checkpoint` pointer
    # of each log is overwritten, and its replaced versions go after a day.
    rules.append(
        {
            "ID": "tlog-replaced-versions",
            "Filter": {"Prefix": "v1/tlog/"},
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        }
    )
    rules.append(
        {
            "ID": "delete-markers",
            "Filter": {"Prefix": "v1/"},
            "Status": "Enabled",
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        }
    )
    return rules


def init_s3(archive: S3Archive, policy: Policy, skeleton_days: int) -> bool:
    """Create (or check) the bucket with versioning and Object Lock; install the rules.
    Returns whether the bucket was created."""
    created = s3util.ensure_lock_bucket(archive.client, archive.bucket)
    archive.client.put_bucket_lifecycle_configuration(
        Bucket=archive.bucket,
        LifecycleConfiguration={"Rules": lifecycle_rules(policy, skeleton_days)},
    )
    return created


@dataclass
class Status:
    classes: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    segments: int
    oldest_segment_day: str | None
    legal_holds: int


def status(archive: FileArchive | S3Archive, policy: Policy) -> Status:
    rules: list[dict[str, Any]] = []
    if isinstance(archive, S3Archive):
        try:
            found = archive.client.get_bucket_lifecycle_configuration(Bucket=archive.bucket)
            rules = [dict(rule) for rule in found["Rules"]]
        except Exception as exc:  # no configuration installed yet
            log.warning("no lifecycle rules: %s", exc)
    segments, oldest, holds = 0, None, 0
    for key in archive.list("v1/manifests/"):
        data = archive.get(key)
        if data is None:
            continue
        manifest = seg.Manifest.from_bytes(data)
        segments += 1
        holds += manifest.legal_hold
        day = manifest.first_received[:10] or manifest.created[:10]
        oldest = day if oldest is None or day < oldest else oldest
    classes = [
        {"class": c.name, "days": c.days, "description": c.description}
        for c in policy.classes.values()
    ]
    return Status(classes, rules, segments, oldest, holds)


def apply_file_retention(
    archive: FileArchive, now: dt.datetime, skeleton_days: int, dry_run: bool = False
) -> list[str]:
    """Delete what retention allows from a file archive: segments after their
    retain-until, skeletons and manifests `skeleton_days` later; never under legal hold."""
    removed = []
    for key in list(archive.list("v1/manifests/")):
        data = archive.get(key)
        if data is None:
            continue
        manifest = seg.Manifest.from_bytes(data)
        if manifest.legal_hold:
            continue
        until = dt.datetime.fromisoformat(manifest.retain_until)
        doomed = []
        if now >= until and archive.get(manifest.segment_key) is not None:
            doomed.append(manifest.segment_key)
        if now >= until + dt.timedelta(days=skeleton_days):
            doomed += [manifest.skeleton_key, key]
        for target in doomed:
            if archive.get(target) is not None:
                if not dry_run:
                    archive.delete(target)
                removed.append(target)
    return removed
