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
    dead_letter: Path  # private; the worker gets its .pub

    @property
    def dead_letter_public(self) -> Path:
        return self.dead_letter.with_name(self.dead_letter.name + ".pub")

    @classmethod
    def ensure(cls, folder: Path) -> DemoKeys:
        """The demo's keys, created once per state folder (private files are 0600)."""
        keys = cls(
            folder / "hmac.json",
            folder / "checkpoint.key",
            folder / "content.json",
            folder / "checkpoint.pub",
            folder / "deadletter.key",
        )
        folder.mkdir(parents=True, exist_ok=True)
        if not keys.hmac.exists():
            keyfiles.write_new_keyring(keys.hmac, "k1")
        if not keys.content.exists():
            keyfiles.write_new_keyring(keys.content, "salt-1")
        if not keys.signer.exists():
            signer = keyfiles.write_new_signer(keys.signer, "auditstream-demo")
            keys.public.write_text(signer.verifier.encode() + "\n")
        if not keys.dead_letter.exists():
            keyfiles.write_new_dead_letter_key(keys.dead_letter, "demo-dlq")
        return keys
