"""Draw docs/architecture.png: components, topics, stores and trust boundaries.

    python docs/architecture.py [OUT.png]

Needs matplotlib (`pip install 'auditstream[bench]'`). The picture is described in
docs/architecture.md; change both together.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parent / "architecture.png"

# Fill colours by kind of thing.
PROCESS = "#dbe9f6"  # a process we run
TOPIC = "#fdebd0"  # a Kafka topic
STORE = "#d5f5e3"  # a store
PRIVATE = "#f5b7b1"  # private key material
PUBLIC = "#fcf3cf"  # public key material
EDGE = "#34495e"


def box(ax: Axes, x: float, y: float, w: float, h: float, text: str, fill: str, size=8.5):
    """A rounded box with its lower-left corner at (x, y)."""
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.3,rounding_size=1.2",
            linewidth=1.1,
            edgecolor=EDGE,
            facecolor=fill,
            zorder=2,
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, zorder=3)


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    *,
    rad: float = 0.0,
    style: str = "-|>",
    dashed: bool = False,
    at: tuple[float, float] | None = None,
):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=13,
            linewidth=1.2,
            color=EDGE,
            linestyle=(0, (4, 3)) if dashed else "-",
            connectionstyle=f"arc3,rad={rad}",
            zorder=1,
        )
    )
    if label:
        x, y = at or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=7.5,
            style="italic",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
        )


def region(ax: Axes, x: float, y: float, w: float, h: float, title: str, color: str):
    """A dashed trust boundary with its title in the top-left corner."""
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.2,rounding_size=2",
            linewidth=1.4,
            linestyle=(0, (6, 4)),
            edgecolor=color,
            facecolor="none",
            zorder=0,
        )
    )
    ax.text(x + 1, y + h - 1.2, title, ha="left", va="top", fontsize=8, color=color, weight="bold")


def draw(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(17, 10))
    ax.set_xlim(0, 170)
    ax.set_ylim(0, 100)
    ax.axis("off")

    # Trust boundaries.
    region(ax, 1, 40, 24, 40, "service hosts", "#7f8c8d")
    region(ax, 28, 27, 83, 71, "pipeline: holds the private keys", "#c0392b")
    region(ax, 114, 27, 55, 71, "sinks and stores: verification trusts none of it", "#1e8449")
    region(ax, 28, 1, 141, 23, "auditor: trusts only the public key", "#b7950b")

    # Producers.
    box(
        ax,
        4,
        50,
        18,
        20,
        "your services\n\nAuditProducer\n(acks=all, idempotent,\nzstd, key = chain_id)\n\n"
        "local spool\n(replayed after\noutages and crashes)",
        PROCESS,
    )

    # The raw topic.
    box(ax, 31, 55, 16, 10, "Kafka topic\naudit.raw.v1\n(7 days)", TOPIC)

    # The worker, its keys and its state.
    box(
        ax,
        53,
        50,
        22,
        20,
        "auditstream worker\n(Faust, exactly_once)\n\nvalidate\n→ classify, mask secrets,\n"
        "   decide retention\n→ dedupe (event_id)\n→ seal: hash chain + HMAC,\n"
        "   signed checkpoints",
        PROCESS,
    )
    box(
        ax,
        53,
        79,
        22,
        13,
        "private keys (files or env)\nHMAC keyring\ncheckpoint signing key (Ed25519)\n"
        "content-digest salts\n+ retention policy (TOML)",
        PRIVATE,
        size=7.8,
    )
    box(
        ax,
        53,
        31,
        22,
        10,
        "audit.processor-state.v1\n(compacted: chain heads,\nMerkle compact ranges)",
        TOPIC,
    )

    # Output topics.
    box(ax, 85, 71, 22, 9, "audit.sealed.v1\n(sealed entries, 30 days)", TOPIC)
    box(ax, 85, 55, 22, 9, "audit.checkpoints.v1\n(signed notes, kept forever)", TOPIC)
    box(
        ax,
        85,
        33,
        22,
        12,
        "audit.deadletter.v1\n(original bytes, offset,\nreason; 90 days)\n→ operators",
        TOPIC,
    )

    # ClickHouse path.
    box(
        ax, 118, 71, 19, 11, "auditstream sink clickhouse\n(or serve)\ninsert, then commit", PROCESS
    )
    box(
        ax,
        145,
        71,
        21,
        11,
        "ClickHouse\naudit_events,\naudit_checkpoints\n(TTL by retain_until)",
        STORE,
    )
    box(ax, 145, 87, 21, 9, "auditstream serve (HTTP API)\nauditstream query", PROCESS)

    # Archive path.
    box(
        ax,
        118,
        46,
        19,
        11,
        "auditstream sink s3\nmanifest first,\nthen segment + skeleton",
        PROCESS,
    )
    box(
        ax,
        145,
        44,
        21,
        15,
        "archive: S3 or file://\nsegments, skeletons,\nmanifests, checkpoints\n"
        "Object Lock COMPLIANCE\n+ lifecycle per class",
        STORE,
    )

    # Verification.
    box(
        ax,
        118,
        5,
        48,
        13,
        "auditstream verify  (ClickHouse and/or archive, cross-check)\n"
        "auditstream prove / prove-consistency  →  verify-proof / verify-consistency\n"
        "recomputes every hash, link, Merkle root and signature",
        PROCESS,
    )
    box(
        ax,
        70,
        5,
        32,
        13,
        "checkpoint.pub (keys export-public)\n+ checkpoint notes kept from earlier\n"
        "audits (verify-consistency --held)\n+ optionally the HMAC keyring (secret, --keys)",
        PUBLIC,
    )

    # Flows.
    arrow(ax, (22.6, 60), (30.4, 60), "produce")
    arrow(ax, (47.6, 60), (52.4, 60))
    arrow(ax, (64, 78.4), (64, 70.6), "load at start", at=(69, 74.5))
    arrow(ax, (60, 49.4), (60, 41.6), "snapshots", at=(60, 45.5))
    arrow(ax, (68, 41.6), (68, 49.4), "recover", at=(68, 45.5))
    arrow(ax, (75.6, 65), (84.4, 75), "", rad=-0.15)
    arrow(ax, (75.6, 60), (84.4, 59.5))
    arrow(ax, (75.6, 55), (84.4, 40), "", rad=0.15)
    ax.text(
        79.5, 66.5, "one Kafka\ntransaction\nper batch", fontsize=7, ha="center", style="italic"
    )
    arrow(ax, (107.6, 76), (117.4, 77))
    arrow(ax, (107.6, 74), (117.4, 53), rad=0.1)
    arrow(ax, (107.6, 60), (117.4, 74), rad=0.1)
    arrow(ax, (107.6, 58), (117.4, 50), rad=-0.1)
    arrow(ax, (137.6, 76.5), (144.4, 76.5))
    arrow(ax, (137.6, 51.5), (144.4, 51.5))
    arrow(ax, (155.5, 82.6), (155.5, 86.4), style="<|-|>")
    arrow(ax, (162, 59.6), (162, 70.4), "auditstream replay", at=(162, 65))
    arrow(ax, (144.4, 72), (140.5, 18.6), "read", dashed=True, at=(141.6, 35))
    arrow(ax, (155.5, 43.4), (155.5, 18.6), "read", dashed=True, at=(155.5, 30))
    arrow(ax, (102.6, 11.5), (117.4, 11.5), "trust anchor")
    arrow(ax, (75.6, 85), (84.0, 85), "", style="-")
    ax.text(84.5, 85, "export-public →\nauditors", fontsize=7.5, va="center", style="italic")

    # Legend.
    for i, (fill, name) in enumerate(
        [
            (PROCESS, "process"),
            (TOPIC, "Kafka topic"),
            (STORE, "store"),
            (PRIVATE, "private keys"),
            (PUBLIC, "public key"),
        ]
    ):
        box(ax, 3 + i * 0.0, 30 - i * 5.2, 14, 3.2, name, fill, size=7.5)

    ax.set_title("auditstream: data flow, topics, stores and trust boundaries", fontsize=13, pad=6)
    fig.tight_layout()
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    draw(target)
    sys.stdout.write(f"wrote {target}\n")
