"""Inclusion and consistency proofs built from a real ClickHouse store, checked offline
with only the public key; any changed byte makes them fail."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from auditstream.core.body import decode_body
from auditstream.core.proofs import check_consistency, check_inclusion
from auditstream.errors import FormatError
from auditstream.processors.engine import Outputs
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.verification import proofs
from tests.support.archive_kit import sealed_outputs
from tests.support.chains import SIGNER
from tests.support.infra import Infra
from tests.support.store_kit import load_clickhouse

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def outputs() -> Outputs:
    return sealed_outputs(1200, chains=2)


@pytest.fixture
def stored(clickhouse: Any, ch_database: str, outputs: Outputs) -> proofs.ProofSource:
    load_clickhouse(clickhouse, ch_database, outputs)
    return proofs.ProofSource(clickhouse, ch_database)


@pytest.fixture
def pubkey(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.pub"
    path.write_text(SIGNER.verifier.encode() + "\n")
    return path


def event_at(outputs: Outputs, index: int) -> tuple[str, int, str]:
    entry = sealed.SealedEntry.FromString(outputs.sealed[index][1])
    return entry.chain_id, entry.seq, decode_body(entry.body).entry.event_id


def mutations(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every string or number leaf with one character (or digit) changed."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from mutations(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from mutations(value, (*path, index))
    elif isinstance(doc, bool):
        return
    elif isinstance(doc, int):
        yield path, doc + 1
    elif isinstance(doc, str):
        step = max(1, len(doc) // 12)  # a dozen places along each string
        for position in range(0, len(doc), step):
            char = doc[position]
            replacement = "0" if char != "0" else "1"
            if char == "\n":
                continue
            yield path, doc[:position] + replacement + doc[position + 1 :]


def changed(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def test_inclusion_proof_verifies_offline_and_breaks_on_any_change(
    stored: proofs.ProofSource,
    outputs: Outputs,
    infra: Infra,
    pubkey: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chain_id, seq, event_id = event_at(outputs, 333)
    bundle_file = tmp_path / "proof.json"
    args = ["prove", event_id, "--clickhouse", infra.clickhouse_dsn()]
    database = ["--database", stored.events.split(".")[0]]
    assert main([*args, *database, "--with-body", "--out", str(bundle_file)]) == 0
    assert main(["verify-proof", str(bundle_file), "--pubkey", str(pubkey)]) == 0
    assert f"is entry {seq} of chain {chain_id}" in capsys.readouterr().out

    bundle = json.loads(bundle_file.read_text())
    assert bundle["leaf_index"] == seq and bundle["tree_size"] > seq
    tried = 0
    for path, value in mutations(bundle):
        tampered = changed(bundle, path, value)
        try:
            result = check_inclusion(tampered, [SIGNER.verifier])
        except FormatError:
            continue
        assert not result.ok, f"a change at {path} went unnoticed"
        tried += 1
    assert tried > 50

    other = tmp_path / "other.pub"
    other.write_text(type(SIGNER).generate("impostor").verifier.encode() + "\n")
    assert main(["verify-proof", str(bundle_file), "--pubkey", str(other)]) == 1


def test_consistency_proof_between_checkpoints(
    stored: proofs.ProofSource, outputs: Outputs, pubkey: Path, tmp_path: Path
) -> None:
    chain_id = event_at(outputs, 0)[0]
    sizes = [size for size, _ in stored.notes(chain_id)]
    assert len(sizes) >= 3
    bundle = proofs.build_consistency(stored, chain_id, sizes[0], sizes[-1])
    assert check_consistency(bundle, [SIGNER.verifier]).ok
    held = stored.notes(chain_id)[0][1]
    assert check_consistency(bundle, [SIGNER.verifier], held=held).ok
    assert not check_consistency(bundle, [SIGNER.verifier], held=stored.notes(chain_id)[1][1]).ok
    path_file = tmp_path / "consistency.json"
    path_file.write_text(json.dumps(bundle))
    assert main(["verify-consistency", str(path_file), "--pubkey", str(pubkey)]) == 0

    middle = proofs.build_consistency(stored, chain_id, sizes[1], sizes[-1])
    assert middle["proof"]
    for index in range(len(middle["proof"])):
        broken = changed(middle, ("proof", index), "00" * 32)
        assert not check_consistency(broken, [SIGNER.verifier]).ok
    swapped = middle | {
        "old_checkpoint": middle["new_checkpoint"],
        "new_checkpoint": middle["old_checkpoint"],
    }
    assert not check_consistency(swapped, [SIGNER.verifier]).ok
    path_file.write_text(json.dumps(changed(middle, ("proof", 0), "11" * 32)))
    assert main(["verify-consistency", str(path_file), "--pubkey", str(pubkey)]) == 1
