import datetime

from auditstream.proto.v1 import log_entry_pb2 as _log_entry_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClearView(_message.Message):
    __slots__ = ("event_type", "outcome", "severity", "component", "environment", "resource", "policy_tags", "sensitivity", "event_id", "event_time", "duration_ms", "tenant_id", "actor_type", "trace_id", "span_id", "parent_span_id", "ocsf_class_uid", "ocsf_activity_id", "otel_operation_name", "change", "ai", "mcp", "client_id", "client_version", "server_id", "server_version", "request_size_bytes", "response_size_bytes", "geo_region", "producer", "validation_issues", "payload_content_type", "action", "producer_id", "producer_seq")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    POLICY_TAGS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    OCSF_CLASS_UID_FIELD_NUMBER: _ClassVar[int]
    OCSF_ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    OTEL_OPERATION_NAME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    AI_FIELD_NUMBER: _ClassVar[int]
    MCP_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    GEO_REGION_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_ISSUES_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_SEQ_FIELD_NUMBER: _ClassVar[int]
    event_type: _log_entry_pb2.EventType
    outcome: _log_entry_pb2.Outcome
    severity: _log_entry_pb2.Severity
    component: str
    environment: str
    resource: str
    policy_tags: _containers.RepeatedScalarFieldContainer[str]
    sensitivity: _log_entry_pb2.Sensitivity
    event_id: str
    event_time: _timestamp_pb2.Timestamp
    duration_ms: float
    tenant_id: str
    actor_type: str
    trace_id: str
    span_id: str
    parent_span_id: str
    ocsf_class_uid: int
    ocsf_activity_id: int
    otel_operation_name: str
    change: _log_entry_pb2.ChangeRecord
    ai: _log_entry_pb2.AiInteraction
    mcp: _log_entry_pb2.McpCall
    client_id: str
    client_version: str
    server_id: str
    server_version: str
    request_size_bytes: int
    response_size_bytes: int
    geo_region: str
    producer: _log_entry_pb2.ProducerInfo
    validation_issues: _containers.RepeatedScalarFieldContainer[str]
    payload_content_type: str
    action: str
    producer_id: str
    producer_seq: int
    def __init__(self, event_type: _Optional[_Union[_log_entry_pb2.EventType, str]] = ..., outcome: _Optional[_Union[_log_entry_pb2.Outcome, str]] = ..., severity: _Optional[_Union[_log_entry_pb2.Severity, str]] = ..., component: _Optional[str] = ..., environment: _Optional[str] = ..., resource: _Optional[str] = ..., policy_tags: _Optional[_Iterable[str]] = ..., sensitivity: _Optional[_Union[_log_entry_pb2.Sensitivity, str]] = ..., event_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[float] = ..., tenant_id: _Optional[str] = ..., actor_type: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., ocsf_class_uid: _Optional[int] = ..., ocsf_activity_id: _Optional[int] = ..., otel_operation_name: _Optional[str] = ..., change: _Optional[_Union[_log_entry_pb2.ChangeRecord, _Mapping]] = ..., ai: _Optional[_Union[_log_entry_pb2.AiInteraction, _Mapping]] = ..., mcp: _Optional[_Union[_log_entry_pb2.McpCall, _Mapping]] = ..., client_id: _Optional[str] = ..., client_version: _Optional[str] = ..., server_id: _Optional[str] = ..., server_version: _Optional[str] = ..., request_size_bytes: _Optional[int] = ..., response_size_bytes: _Optional[int] = ..., geo_region: _Optional[str] = ..., producer: _Optional[_Union[_log_entry_pb2.ProducerInfo, _Mapping]] = ..., validation_issues: _Optional[_Iterable[str]] = ..., payload_content_type: _Optional[str] = ..., action: _Optional[str] = ..., producer_id: _Optional[str] = ..., producer_seq: _Optional[int] = ...) -> None: ...

class PersonalView(_message.Message):
    __slots__ = ("actor_id", "message", "payload", "session_id", "change", "ai", "mcp", "content", "data", "subject_ids")
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    AI_FIELD_NUMBER: _ClassVar[int]
    MCP_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    actor_id: str
    message: str
    payload: bytes
    session_id: str
    change: PersonalChange
    ai: PersonalAi
    mcp: PersonalMcp
    content: _containers.RepeatedCompositeFieldContainer[_log_entry_pb2.ContentRef]
    data: _struct_pb2.Struct
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, actor_id: _Optional[str] = ..., message: _Optional[str] = ..., payload: _Optional[bytes] = ..., session_id: _Optional[str] = ..., change: _Optional[_Union[PersonalChange, _Mapping]] = ..., ai: _Optional[_Union[PersonalAi, _Mapping]] = ..., mcp: _Optional[_Union[PersonalMcp, _Mapping]] = ..., content: _Optional[_Iterable[_Union[_log_entry_pb2.ContentRef, _Mapping]]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., subject_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PersonalChange(_message.Message):
    __slots__ = ("old_values", "new_values")
    OLD_VALUES_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUES_FIELD_NUMBER: _ClassVar[int]
    old_values: _struct_pb2.Struct
    new_values: _struct_pb2.Struct
    def __init__(self, old_values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., new_values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class PersonalAi(_message.Message):
    __slots__ = ("tool_calls",)
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    tool_calls: _containers.RepeatedCompositeFieldContainer[_log_entry_pb2.ToolCall]
    def __init__(self, tool_calls: _Optional[_Iterable[_Union[_log_entry_pb2.ToolCall, _Mapping]]] = ...) -> None: ...

class PersonalMcp(_message.Message):
    __slots__ = ("tool_arguments", "tool_result")
    TOOL_ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    tool_arguments: _struct_pb2.Struct
    tool_result: _struct_pb2.Struct
    def __init__(self, tool_arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tool_result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
