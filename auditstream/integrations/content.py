"""Message and tool content as the integrations store it: a keyed digest by default,
AES-256-GCM ciphertext as well when the producer stores content (`store_content=True`
and a `ContentVault`). Clear text never reaches a LogEntry.

The rules are the producer's (`AuditProducer.ai_interaction`), taken from the producer
the integration writes through, so every door into auditstream treats content alike.
"""

from __future__ import annotations

import json
from typing import Any

from auditstream.core.content import DigestPolicy
from auditstream.producers import AuditProducer, ContentVault
from auditstream.producers.vault import aad
from auditstream.proto.v1 import log_entry_pb2 as pb


def as_text(value: Any) -> str:
    """The text a digest is taken over: strings as they are, anything else as compact
    JSON with sorted keys (so equal structures get equal digests)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class ContentWriter:
    """Appends content to LogEntry messages under one tenant's digest salt."""

    def __init__(
        self,
        policy: DigestPolicy | None,
        *,
        vault: ContentVault | None = None,
        encrypt: bool = False,
    ) -> None:
        self.policy = policy
        self.vault = vault
        self.encrypt = encrypt

    @classmethod
    def of(cls, producer: AuditProducer) -> ContentWriter:
        """The content rules of `producer`: its digest policy, vault and store_content."""
        return cls(producer.content, vault=producer.vault, encrypt=producer.config.store_content)

    def add(
        self,
        entry: pb.LogEntry,
        name: str,
        value: Any,
        *,
        role: str = "",
        participant: str = "",
        subject: str = "",
    ) -> int:
        """Append `value` to `entry.content` as `name`; returns its index.

        Without a digest key only the length is kept, and the entry says so in
        `validation_issues` (the producer does the same)."""
        text = as_text(value)
        index = len(entry.content)
        if self.policy is None:
            entry.validation_issues.append(f"{name}: no content key configured; text not recorded")
            entry.content.append(
                pb.ContentRef(
                    name=name, role=role, participant=participant, length=len(text.encode())
                )
            )
            return index
        ref = self.policy.content_ref(
            name, text, tenant_id=entry.tenant_id, role=role, participant=participant
        )
        if self.encrypt:
            if self.vault is None:
                entry.validation_issues.append(
                    f"{name}: store_content without a vault; digest only"
                )
            else:
                owner = subject or entry.ai.conversation_id or entry.tenant_id
                slot = f"{name}#{index}"
                ref.encrypted.CopyFrom(
                    self.vault.encrypt(owner, text.encode(), aad(entry.event_id, slot))
                )
        entry.content.append(ref)
        return index

    def __repr__(self) -> str:
        return f"ContentWriter(policy={self.policy!r}, encrypt={self.encrypt})"
