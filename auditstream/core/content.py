"""How prompt, completion and message text becomes storable: a keyed digest.

Text never leaves this module in clear. Each tenant gets its own salt, derived from
one master key, so equal texts correlate within a tenant but not across tenants, and
nobody without the key can confirm a guessed text:

    salt(tenant) = HMAC-SHA256(master, "auditstream.v1.content-salt" || 0x00 || tenant)
    digest       = HMAC-SHA256(salt(tenant), UTF-8 text)

Encryption of content (store_content=True) builds on this and lives with the producer.
"""

from __future__ import annotations

from typing import Protocol

from auditstream.core.keys import HmacKey
from auditstream.proto.v1.log_entry_pb2 import ContentRef

SALT_DOMAIN = b"auditstream.v1.content-salt\x00"


class ContentPolicy(Protocol):
    """Turns clear text into the ContentRef that may be stored."""

    def content_ref(
        self, name: str, text: str, *, tenant_id: str, role: str = "", participant: str = ""
    ) -> ContentRef: ...


class DigestPolicy:
    """Store only keyed digests of content (the default policy)."""

    def __init__(self, master: HmacKey) -> None:
        self._master = master
        self._salts: dict[str, HmacKey] = {}

    @property
    def key_id(self) -> str:
        return self._master.key_id

    def salt_for(self, tenant_id: str) -> HmacKey:
        salt = self._salts.get(tenant_id)
        if salt is None:
            secret = self._master.mac(SALT_DOMAIN + tenant_id.encode())
            salt = HmacKey(self._master.key_id, secret)
            self._salts[tenant_id] = salt
        return salt

    def digest(self, text: str, *, tenant_id: str) -> bytes:
        return self.salt_for(tenant_id).mac(text.encode())

    def content_ref(
        self, name: str, text: str, *, tenant_id: str, role: str = "", participant: str = ""
    ) -> ContentRef:
        data = text.encode()
        return ContentRef(
            name=name,
            role=role,
            participant=participant,
            digest=self.salt_for(tenant_id).mac(data),
            digest_key_id=self._master.key_id,
            length=len(data),
        )

    def __repr__(self) -> str:
        return f"DigestPolicy(key_id={self._master.key_id!r})"
