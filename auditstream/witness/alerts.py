"""What happens when a witness refuses a checkpoint: an error log line, a Prometheus
counter, and an audit event in the chain's tenant, so the refusal is itself sealed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter

from auditstream.producers import AuditProducer
from auditstream.producers.events import build_entry
from auditstream.witness.client import Refused, Witness

log = logging.getLogger(__name__)

REFUSALS = Counter(
    "auditstream_witness_refusals_total",
    "Checkpoints a witness refused to cosign (split view, unknown log, untrusted key, ...)",
    ["witness", "reason"],
)


@dataclass(frozen=True)
class Refusal:
    """A witness's refusal of one checkpoint of a chain."""

    witness: Witness
    chain_id: str
    tree_size: int
    refused: Refused

    def describe(self) -> str:
        return (
            f"witness {self.witness.name} ({self.witness.url}) refused the checkpoint of tree "
            f"size {self.tree_size} of chain {self.chain_id}: {self.refused.reason} — "
            f"{self.refused.detail}"
        )


class Alerts(Protocol):
    def refused(self, refusal: Refusal) -> None:
        """Report a refusal (called once per checkpoint, witness and reason)."""


class LogAlerts:
    """Refusals as error log lines and the `auditstream_witness_refusals_total` counter."""

    def refused(self, refusal: Refusal) -> None:
        REFUSALS.labels(refusal.witness.name, str(refusal.refused.reason)).inc()
        log.error("%s", refusal.describe())


class AuditAlerts(LogAlerts):
    """Also records each refusal as an audit event (severity ALERT, outcome
    FAILURE_DENIED) in the refused chain's tenant, through the producer."""

    def __init__(self, producer: AuditProducer) -> None:
        self.producer = producer

    def refused(self, refusal: Refusal) -> None:
        super().refused(refusal)
        tenant = refusal.chain_id.split("/", 1)[0]
        entry = build_entry(
            "RESOURCE_ACCESS",
            outcome="FAILURE_DENIED",
            severity="ALERT",
            tenant_id=tenant,
            actor_id=f"witness:{refusal.witness.name}",
            actor_type="service",
            component="auditstream-witness",
            resource=f"auditstream/{refusal.chain_id}",
            action="witness.add-checkpoint",
            message=refusal.describe(),
            data={
                "witness": refusal.witness.name,
                "witness_url": refusal.witness.url,
                "witness_key": refusal.witness.verifier.encode(),
                "chain_id": refusal.chain_id,
                "tree_size": refusal.tree_size,
                "reason": str(refusal.refused.reason),
                "http_status": refusal.refused.status,
            },
        )
        self.producer.emit(entry, chain_id=tenant)
