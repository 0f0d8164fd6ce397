import datetime

from auditstream.proto.v1 import log_entry_pb2 as _log_entry_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadLetterReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEAD_LETTER_REASON_UNSPECIFIED: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNPARSEABLE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNKNOWN_ENUM: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_MISSING_FIELD: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_OVERSIZE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_INVALID_JSON_PAYLOAD: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_TIME_SKEW: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_INVALID_CHAIN_KEY: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_INVALID_FIELD: _ClassVar[DeadLetterReason]
    DEAD_LETTER_REASON_ADAPTER_ERROR: _ClassVar[DeadLetterReason]
DEAD_LETTER_REASON_UNSPECIFIED: DeadLetterReason
DEAD_LETTER_REASON_UNPARSEABLE: DeadLetterReason
DEAD_LETTER_REASON_UNKNOWN_ENUM: DeadLetterReason
DEAD_LETTER_REASON_MISSING_FIELD: DeadLetterReason
DEAD_LETTER_REASON_OVERSIZE: DeadLetterReason
DEAD_LETTER_REASON_INVALID_JSON_PAYLOAD: DeadLetterReason
DEAD_LETTER_REASON_TIME_SKEW: DeadLetterReason
DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE: DeadLetterReason
DEAD_LETTER_REASON_INVALID_CHAIN_KEY: DeadLetterReason
DEAD_LETTER_REASON_INVALID_FIELD: DeadLetterReason
DEAD_LETTER_REASON_ADAPTER_ERROR: DeadLetterReason

class SealedBody(_message.Message):
    __slots__ = ("entry", "classification", "chain_id", "seq", "received_time", "source", "protected")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_FIELD_NUMBER: _ClassVar[int]
    entry: _log_entry_pb2.LogEntry
    classification: Classification
    chain_id: str
    seq: int
    received_time: _timestamp_pb2.Timestamp
    source: SourceRecord
    protected: ProtectedFields
    def __init__(self, entry: _Optional[_Union[_log_entry_pb2.LogEntry, _Mapping]] = ..., classification: _Optional[_Union[Classification, _Mapping]] = ..., chain_id: _Optional[str] = ..., seq: _Optional[int] = ..., received_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[SourceRecord, _Mapping]] = ..., protected: _Optional[_Union[ProtectedFields, _Mapping]] = ...) -> None: ...

class ProtectedFields(_message.Message):
    __slots__ = ("algorithm", "subjects", "nonce", "ciphertext", "fields", "indexes")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    subjects: _containers.RepeatedCompositeFieldContainer[SubjectKey]
    nonce: bytes
    ciphertext: bytes
    fields: _containers.RepeatedScalarFieldContainer[str]
    indexes: _containers.RepeatedCompositeFieldContainer[BlindIndex]
    def __init__(self, algorithm: _Optional[str] = ..., subjects: _Optional[_Iterable[_Union[SubjectKey, _Mapping]]] = ..., nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ..., fields: _Optional[_Iterable[str]] = ..., indexes: _Optional[_Iterable[_Union[BlindIndex, _Mapping]]] = ...) -> None: ...

class SubjectKey(_message.Message):
    __slots__ = ("subject_digest", "key_id")
    SUBJECT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    subject_digest: bytes
    key_id: str
    def __init__(self, subject_digest: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class BlindIndex(_message.Message):
    __slots__ = ("field", "digest")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    field: str
    digest: bytes
    def __init__(self, field: _Optional[str] = ..., digest: _Optional[bytes] = ...) -> None: ...

class SourceRecord(_message.Message):
    __slots__ = ("topic", "partition", "offset")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    offset: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class Classification(_message.Message):
    __slots__ = ("declared_sensitivity", "detections", "added_policy_tags", "retention_class", "retain_until", "legal_hold", "policy_version", "notes")
    DECLARED_SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    ADDED_POLICY_TAGS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_CLASS_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    LEGAL_HOLD_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    declared_sensitivity: _log_entry_pb2.Sensitivity
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    added_policy_tags: _containers.RepeatedScalarFieldContainer[str]
    retention_class: str
    retain_until: _timestamp_pb2.Timestamp
    legal_hold: bool
    policy_version: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, declared_sensitivity: _Optional[_Union[_log_entry_pb2.Sensitivity, str]] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ..., added_policy_tags: _Optional[_Iterable[str]] = ..., retention_class: _Optional[str] = ..., retain_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., legal_hold: _Optional[bool] = ..., policy_version: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("kind", "field", "count", "masked")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MASKED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    field: str
    count: int
    masked: bool
    def __init__(self, kind: _Optional[str] = ..., field: _Optional[str] = ..., count: _Optional[int] = ..., masked: _Optional[bool] = ...) -> None: ...

class SealedEntry(_message.Message):
    __slots__ = ("chain_id", "seq", "prev_hash", "body_digest", "entry_hash", "key_id", "mac", "body")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    BODY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ENTRY_HASH_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    seq: int
    prev_hash: bytes
    body_digest: bytes
    entry_hash: bytes
    key_id: str
    mac: bytes
    body: bytes
    def __init__(self, chain_id: _Optional[str] = ..., seq: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., body_digest: _Optional[bytes] = ..., entry_hash: _Optional[bytes] = ..., key_id: _Optional[str] = ..., mac: _Optional[bytes] = ..., body: _Optional[bytes] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("chain_id", "tree_size", "root_hash", "note", "key_name", "created_time")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    tree_size: int
    root_hash: bytes
    note: bytes
    key_name: str
    created_time: _timestamp_pb2.Timestamp
    def __init__(self, chain_id: _Optional[str] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ..., note: _Optional[bytes] = ..., key_name: _Optional[str] = ..., created_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChainSnapshot(_message.Message):
    __slots__ = ("chain_id", "next_seq", "head_hash", "compact_range", "checkpoint_size", "checkpoint_time", "snapshot_time", "producers")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    COMPACT_RANGE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_TIME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    PRODUCERS_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    next_seq: int
    head_hash: bytes
    compact_range: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint_size: int
    checkpoint_time: _timestamp_pb2.Timestamp
    snapshot_time: _timestamp_pb2.Timestamp
    producers: _containers.RepeatedCompositeFieldContainer[ProducerStream]
    def __init__(self, chain_id: _Optional[str] = ..., next_seq: _Optional[int] = ..., head_hash: _Optional[bytes] = ..., compact_range: _Optional[_Iterable[bytes]] = ..., checkpoint_size: _Optional[int] = ..., checkpoint_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producers: _Optional[_Iterable[_Union[ProducerStream, _Mapping]]] = ...) -> None: ...

class ProducerStream(_message.Message):
    __slots__ = ("producer_id", "tenant_id", "next_seq", "missing", "last_seen", "heartbeat_interval_s", "silent_reported", "stopped")
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQ_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    SILENT_REPORTED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    producer_id: str
    tenant_id: str
    next_seq: int
    missing: _containers.RepeatedCompositeFieldContainer[MissingRange]
    last_seen: _timestamp_pb2.Timestamp
    heartbeat_interval_s: float
    silent_reported: bool
    stopped: bool
    def __init__(self, producer_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., next_seq: _Optional[int] = ..., missing: _Optional[_Iterable[_Union[MissingRange, _Mapping]]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_interval_s: _Optional[float] = ..., silent_reported: _Optional[bool] = ..., stopped: _Optional[bool] = ...) -> None: ...

class MissingRange(_message.Message):
    __slots__ = ("first", "last", "noticed")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    NOTICED_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    noticed: _timestamp_pb2.Timestamp
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ..., noticed: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("reason", "detail", "original_value", "original_key", "original_headers", "source", "received_time", "dead_lettered_time", "sealed_original", "detections")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_HEADERS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_TIME_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_TIME_FIELD_NUMBER: _ClassVar[int]
    SEALED_ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    reason: DeadLetterReason
    detail: str
    original_value: bytes
    original_key: bytes
    original_headers: _containers.RepeatedCompositeFieldContainer[RecordHeader]
    source: SourceRecord
    received_time: _timestamp_pb2.Timestamp
    dead_lettered_time: _timestamp_pb2.Timestamp
    sealed_original: SealedOriginal
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    def __init__(self, reason: _Optional[_Union[DeadLetterReason, str]] = ..., detail: _Optional[str] = ..., original_value: _Optional[bytes] = ..., original_key: _Optional[bytes] = ..., original_headers: _Optional[_Iterable[_Union[RecordHeader, _Mapping]]] = ..., source: _Optional[_Union[SourceRecord, _Mapping]] = ..., received_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dead_lettered_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sealed_original: _Optional[_Union[SealedOriginal, _Mapping]] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ...) -> None: ...

class OriginalRecord(_message.Message):
    __slots__ = ("key", "value", "headers")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    headers: _containers.RepeatedCompositeFieldContainer[RecordHeader]
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., headers: _Optional[_Iterable[_Union[RecordHeader, _Mapping]]] = ...) -> None: ...

class SealedOriginal(_message.Message):
    __slots__ = ("key_id", "suite", "ciphertext")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    suite: str
    ciphertext: bytes
    def __init__(self, key_id: _Optional[str] = ..., suite: _Optional[str] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class RecordHeader(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
