"""The demo's keys: made once per state folder, private files readable by the owner only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditstream.settings import keyfiles


@dataclass(frozen=True)
class DemoKeys:
    hmac: Path
    signer: Path
    content: Path
    public: Path

    @classmethod
    def ensure(cls, folder: Path) -> DemoKeys:
        """The demo's keys, created once per state folder (private files are 0600)."""
        keys = cls(
            folder / "hmac.json",
            folder / "checkpoint.key",
            folder / "content.json",
            folder / "checkpoint.pub",
        )
        folder.mkdir(parents=True, exist_ok=True)
        if not keys.hmac.exists():
            keyfiles.write_new_keyring(keys.hmac, "k1")
        if not keys.content.exists():
            keyfiles.write_new_keyring(keys.content, "salt-1")
        if not keys.signer.exists():
            signer = keyfiles.write_new_signer(keys.signer, "auditstream-demo")
            keys.public.write_text(signer.verifier.encode() + "\n")
        return keys
