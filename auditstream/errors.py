"""The exception tree. Catch `AuditStreamError` for everything this package raises.

Messages name the field, key id or file concerned and never contain key material.
"""

from __future__ import annotations


class AuditStreamError(Exception):
    """Root of every error raised by auditstream."""


class ConfigError(AuditStreamError):
    """A setting, file or environment variable is missing or malformed."""


class KeyMaterialError(ConfigError):
    """A key file or key string is malformed, too short or of the wrong kind."""


class UnknownKeyError(AuditStreamError):
    """A key id is not in the keyring."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no key with id {key_id!r} in the keyring")
        self.key_id = key_id


class QueryError(AuditStreamError):
    """A query asks for something that does not exist or cannot be asked: an unknown
    query, parameter, enum value or event, a malformed cursor or time."""


class RecoveryError(AuditStreamError):
    """A partition's state cannot be rebuilt: its topics could not be read back in time,
    or the stored state and the sealed entries disagree (sealing would fork a chain)."""


class FormatError(AuditStreamError):
    """Bytes or text do not follow the format they claim (note, proof, record)."""


class NoteError(FormatError):
    """A signed note is malformed, or no trusted signature on it verifies."""


class ProofError(FormatError):
    """A Merkle proof request is impossible (index or size out of range)."""


class AdapterError(AuditStreamError):
    """A message in a foreign schema cannot be mapped into a LogEntry.

    `field` names the offending field, `reason` is a stable code such as
    ``unknown_enum`` or ``unparseable``.
    """

    def __init__(self, reason: str, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.reason = reason
        self.field = field
        self.detail = detail


class DemoError(AuditStreamError):
    """`auditstream demo` could not complete (a service did not start or fell behind)."""
