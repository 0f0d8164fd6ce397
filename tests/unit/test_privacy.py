"""Per-subject protection: the subject vault, field encryption at seal time, erasure by
key destruction (decision 0021)."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor

from auditstream.core.body import decode_body
from auditstream.core.chain import Link
from auditstream.core.keys import HmacKey, Keyring
from auditstream.core.verify import ChainVerifier
from auditstream.privacy.protect import (
    PERSONAL_FIELDS,
    ProtectionError,
    SubjectProtection,
    protectable,
)
from auditstream.privacy.vault import (
    LocalKek,
    SubjectErasedError,
    SubjectKeyError,
    SubjectVault,
    UnknownSubjectKeyError,
)
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1.sealed_pb2 import SealedBody
from auditstream.proto.v1.views_pb2 import ClearView, PersonalView
from auditstream.samples.workload import Workload, generate
from tests.support.chains import KEYRING
from tests.support.engine_kit import login, record, sealer

KEK = Keyring([HmacKey("kek-1", bytes(range(32)))], "kek-1")
REF = "0123456789abcdef" * 2


def vault(path: Path, keks: Keyring = KEK, **options: int) -> SubjectVault:
    return SubjectVault(path, LocalKek(keks), **options)


def protection(path: Path) -> SubjectProtection:
    return SubjectProtection(vault(path))


def body_of(
    guard: SubjectProtection,
    entry: pb.LogEntry,
    seq: int = 0,
    found: tuple[tuple[str, str], ...] = (),
) -> SealedBody:
    taken = pb.LogEntry()
    taken.CopyFrom(entry)  # protect works in place
    clear, protected = guard.protect(taken, found, chain_id="acme", seq=seq)
    assert clear == taken.SerializeToString(deterministic=True)
    body = SealedBody(chain_id="acme", seq=seq)
    body.entry.ParseFromString(clear)
    if protected:
        body.protected.ParseFromString(protected)
    assert body.SerializeToString(deterministic=True)  # the fast encoding parses
    return body


# -- the vault ------------------------------------------------------------------------
def test_a_key_is_made_once_kept_wrapped_and_found_by_another_process(tmp_path: Path) -> None:
    key_id, key = vault(tmp_path).current(REF)
    assert key_id.startswith(REF + ".") and len(key) == 32
    stored = (tmp_path / "keys" / f"{REF}.json").read_bytes()
    assert key not in stored and key.hex().encode() not in stored
    assert (tmp_path / "keys" / f"{REF}.json").stat().st_mode & 0o777 == 0o600
    again = vault(tmp_path)  # a fresh cache, as another worker has
    assert again.current(REF) == (key_id, key)
    assert again.key(key_id) == key


def test_destroying_a_key_erases_it_for_good_and_a_new_subject_starts_over(
    tmp_path: Path,
) -> None:
    keys = vault(tmp_path)
    old_id, _ = keys.current(REF)
    assert keys.destroy(REF) == [old_id]
    assert keys.destroy(REF) == [old_id]  # idempotent
    assert not keys.exists(REF)
    for reader in (keys, vault(tmp_path)):
        with pytest.raises(SubjectErasedError, match="destroyed on request"):
            reader.key(old_id)
    new_id, _ = keys.current(REF)
    assert new_id != old_id
    assert keys.destroy(REF) == [old_id, new_id]


def test_a_destroy_cut_short_after_its_tombstone_is_finished_by_the_next(tmp_path: Path) -> None:
    keys = vault(tmp_path)
    old_id, _ = keys.current(REF)
    tombstone = tmp_path / "erased" / f"{REF}.json"
    tombstone.parent.mkdir()
    tombstone.write_text(json.dumps({"key_ids": [old_id], "erased_at": 0}))  # key file stays
    fresh = vault(tmp_path)
    with pytest.raises(SubjectErasedError):
        fresh.key(old_id)
    assert fresh.current(REF)[0] != old_id  # the condemned key is never used again
    assert vault(tmp_path).destroy(REF)[0] == old_id


def test_unknown_keys_wrong_keks_and_bad_references_are_named(tmp_path: Path) -> None:
    keys = vault(tmp_path)
    with pytest.raises(UnknownSubjectKeyError, match="not in this vault"):
        keys.key(REF + ".00000000")
    keys.current(REF)
    other = Keyring([HmacKey("kek-1", bytes(32))], "kek-1")
    with pytest.raises(SubjectKeyError, match="does not unwrap under KEK 'kek-1'"):
        vault(tmp_path, other).current(REF)
    with pytest.raises(SubjectKeyError, match="32 lowercase hex"):
        keys.current("../../etc/passwd")
    (tmp_path / "keys" / f"{REF}.json").write_text("{truncated")
    with pytest.raises(SubjectKeyError, match="is damaged"):
        vault(tmp_path).current(REF)


def test_kek_rotation_rewraps_every_key(tmp_path: Path) -> None:
    key_id, key = vault(tmp_path).current(REF)
    new = HmacKey("kek-2", bytes(range(100, 132)))
    rotated = vault(tmp_path, Keyring([KEK.active, new], "kek-2"))
    index = vault(tmp_path).index_key()
    assert rotated.rewrap() == 2  # the subject's key and the index key
    assert rotated.rewrap() == 0
    doc = json.loads((tmp_path / "keys" / f"{REF}.json").read_text())
    assert doc["kek_id"] == "kek-2"
    after = vault(tmp_path, Keyring([new], "kek-2"))  # the old KEK is not needed any more
    assert after.key(key_id) == key and after.index_key() == index


def test_the_cache_is_bounded_and_racing_creators_agree(tmp_path: Path) -> None:
    keys = vault(tmp_path, cache_size=3)
    for n in range(10):
        keys.current(f"{n:032x}")
    assert len(keys._live) == 3
    results: list[tuple[str, bytes]] = []
    racers = [
        threading.Thread(target=lambda: results.append(vault(tmp_path).current(REF)))
        for _ in range(4)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert len(results) == 4
    assert len(set(results)) == 1


def test_reprs_show_no_key_material(tmp_path: Path) -> None:
    keys = vault(tmp_path)
    _, key = keys.current(REF)
    guard = SubjectProtection(keys)
    for text in (repr(keys), repr(guard), repr(LocalKek(KEK))):
        assert key.hex() not in text and keys.index_key().hex() not in text
        assert "kek-1" in text


# -- protection -------------------------------------------------------------------------
def person(n: int = 1, **fields: object) -> pb.LogEntry:
    entry = login(
        n,
        actor_id="alice@example.com",
        session_id="sess-alice-1",
        message="alice@example.com logged in from her phone",
        payload=b'{"phone": "+44 20 7946 0958"}',
        **fields,
    )
    entry.change.resource_type = "user"
    entry.change.new_values.update({"name": "Alice Liddell"})
    return entry


def test_personal_fields_leave_the_entry_and_come_back_while_the_key_lives(
    tmp_path: Path,
) -> None:
    guard = protection(tmp_path)
    original = person()
    body = body_of(guard, original)
    sealed = body.SerializeToString(deterministic=True)
    for clear in (b"alice", b"Alice", b"+44", b"sess-alice"):
        assert clear not in sealed
    assert body.entry.event_id == original.event_id and body.entry.resource == original.resource
    assert body.entry.change.resource_type == "user"  # the rest of the change stays
    assert list(body.protected.fields) == [
        "actor_id",
        "change.new_values",
        "message",
        "payload",
        "session_id",
    ]
    assert guard.open(body) == original


def test_blind_indexes_find_a_subject_by_digest_within_its_tenant_only(tmp_path: Path) -> None:
    guard = protection(tmp_path)
    body = body_of(guard, person())
    indexes = {(i.field, i.digest) for i in body.protected.indexes}
    digest = guard.digest("acme", "actor_id", "alice@example.com")
    assert ("actor_id", digest) in indexes
    assert ("subject", guard.digest("acme", "subject", "alice@example.com")) in indexes
    assert guard.digest("globex", "actor_id", "alice@example.com") != digest
    assert body.protected.subjects[0].subject_digest == bytes.fromhex(
        guard.subject_ref("acme", "alice@example.com")
    )


def test_fields_where_the_classifier_found_personal_data_are_protected_too(
    tmp_path: Path,
) -> None:
    guard = protection(tmp_path)
    entry = person(resource="users/alice@example.com/profile")
    body = body_of(guard, entry, found=(("email", "resource"), ("aws_access_key", "component")))
    assert "resource" in body.protected.fields and not body.entry.resource
    assert "component" not in body.protected.fields  # a credential is masked, not encrypted
    assert protectable("ai.tool_calls.arguments") == "ai.tool_calls"
    assert protectable("change.new_values") == "change.new_values"
    assert protectable("event_id") is None and protectable("no_such_field") is None


def test_erasing_one_subject_of_an_event_erases_its_fields_and_no_one_elses(
    tmp_path: Path,
) -> None:
    guard = protection(tmp_path)
    shared = body_of(guard, person(1, subject_ids=["alice@example.com", "bob"]))
    bobs = body_of(guard, login(2, actor_id="bob", message="bob alone"), seq=1)
    assert len(shared.protected.subjects) == 2
    guard_vault = vault(tmp_path)
    guard_vault.destroy(guard.subject_ref("acme", "alice@example.com"))
    reader = protection(tmp_path)
    with pytest.raises(ProtectionError, match="destroyed on request"):
        reader.open(shared)
    assert reader.open(bobs).message == "bob alone"


def test_protected_fields_moved_to_another_entry_or_altered_do_not_open(tmp_path: Path) -> None:
    guard = protection(tmp_path)
    body = body_of(guard, person(), seq=5)
    moved = SealedBody()
    moved.CopyFrom(body)
    moved.seq = 6
    with pytest.raises(ProtectionError, match="altered, or moved"):
        guard.open(moved)
    altered = SealedBody()
    altered.CopyFrom(body)
    altered.protected.ciphertext = (
        bytes([body.protected.ciphertext[0] ^ 1]) + (body.protected.ciphertext[1:])
    )
    with pytest.raises(ProtectionError, match="do not decrypt"):
        guard.open(altered)


def test_an_entry_without_a_subject_is_sealed_as_it_is(tmp_path: Path) -> None:
    guard = protection(tmp_path)
    entry = pb.LogEntry(event_type=pb.EVENT_LOGIN, message="nobody's")
    assert guard.protect(entry, (), chain_id="acme", seq=0) == (entry.SerializeToString(), b"")


# -- the engine ------------------------------------------------------------------------
def test_the_engine_seals_ciphertext_that_verifies_and_opens(tmp_path: Path) -> None:
    guard = protection(tmp_path)
    engine = sealer(protection=guard)
    out = engine.process([record(n, person(n)) for n in range(10)], 10**18)
    assert out.counts["sealed"] == 10
    verifier = ChainVerifier("acme", keyring=KEYRING)
    for _, data in out.sealed:
        assert b"alice" not in data and b"Alice" not in data
        link = Link.decode(data)
        verifier.feed(link)
        opened = guard.open(decode_body(link.body))
        assert opened.actor_id == "alice@example.com"
        assert opened.message.endswith("from her phone")
    report = verifier.finish()
    assert report.ok and report.entries == 10


# -- the two views ----------------------------------------------------------------------
def _shape(field: FieldDescriptor) -> tuple[str, int, int, bool]:
    return (field.name, field.number, field.type, field.is_repeated)


def test_the_clear_and_personal_views_partition_log_entry() -> None:
    entry_fields = {field.number: field for field in pb.LogEntry.DESCRIPTOR.fields}
    clear = {field.number: field for field in ClearView.DESCRIPTOR.fields}
    personal = {field.number: field for field in PersonalView.DESCRIPTOR.fields}
    assert sorted(clear) + sorted(personal) and set(clear) | set(personal) == set(entry_fields)
    for number, field in clear.items():
        if number in personal:  # split inside: the clear side is the whole message
            assert field.message_type == entry_fields[number].message_type
            continue
        assert _shape(field) == _shape(entry_fields[number])
        assert field.message_type == entry_fields[number].message_type
    for number, field in personal.items():
        original = entry_fields[number]
        assert _shape(field) == _shape(original)
        if number in clear:  # a part of a message: its fields are the original's
            inner = {f.number: f for f in original.message_type.fields}
            for sub in field.message_type.fields:
                assert _shape(sub) == _shape(inner[sub.number])
                assert sub.message_type == inner[sub.number].message_type
        else:
            assert field.message_type == original.message_type
    assert {f"{f.name}" for f in personal.values() if f.number not in clear} | {
        f"{f.name}.{sub.name}"
        for f in personal.values()
        if f.number in clear
        for sub in f.message_type.fields
    } == set(PERSONAL_FIELDS)


def crafted() -> list[pb.LogEntry]:
    found = list(generate(random.Random(11), 300, Workload(tenants=3)))
    found.append(person())
    change_only = login(3)
    change_only.change.new_values.update({"email": "a@b.c"})  # nothing else in change
    found.append(change_only)
    ai = login(4)
    ai.ai.request_model = "m"
    ai.ai.tool_calls.add(id="t1", name="search", arguments='{"q": "alice"}')
    found.append(ai)
    mcp = login(5)
    mcp.mcp.tool_name = "read"
    mcp.mcp.tool_result.update({"rows": 3})
    found.append(mcp)
    found.append(login(6, subject_ids=["bob", "alice"], data={"k": "v"}))
    return found


def test_the_fast_path_equals_the_field_by_field_path(tmp_path: Path) -> None:
    guard = protection(tmp_path)
    for entry in crafted():
        results = []
        for run in (
            lambda e: guard.protect(e, {}, chain_id="acme", seq=3),
            lambda e: guard.protect(
                e, {}, chain_id="acme", seq=3, serialized=e.SerializeToString()
            ),
            lambda e: guard._protect_fields(e, [], "acme", 3),
        ):
            copy = pb.LogEntry()
            copy.CopyFrom(entry)
            clear, protected = run(copy)
            body = SealedBody(chain_id="acme", seq=3)
            body.entry.ParseFromString(clear)
            body.protected.ParseFromString(protected)
            assert clear == pb.LogEntry.FromString(clear).SerializeToString(deterministic=True)
            assert guard.open(body) == entry
            envelope = body.protected
            assert envelope.SerializeToString(deterministic=True) == protected  # canonical
            results.append(
                (
                    clear,
                    list(envelope.fields),
                    [(s.subject_digest, s.key_id) for s in envelope.subjects],
                    [(i.field, i.digest) for i in envelope.indexes],
                    guard.open_fields(body),
                )
            )
        assert results[0] == results[1] == results[2]
