import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_LOGIN: _ClassVar[EventType]
    EVENT_LOGOUT: _ClassVar[EventType]
    EVENT_FILE_ACCESS: _ClassVar[EventType]
    EVENT_POLICY_CHANGE: _ClassVar[EventType]
    EVENT_PRIVILEGE_USE: _ClassVar[EventType]
    EVENT_CONFIG_CHANGE: _ClassVar[EventType]
    EVENT_DATA_EXPORT: _ClassVar[EventType]
    EVENT_NETWORK_CONNECTION: _ClassVar[EventType]
    EVENT_PROCESS_START: _ClassVar[EventType]
    EVENT_PROCESS_STOP: _ClassVar[EventType]
    EVENT_USER_MANAGEMENT: _ClassVar[EventType]
    EVENT_RESOURCE_ACCESS: _ClassVar[EventType]
    EVENT_TOOL_INVOCATION: _ClassVar[EventType]
    EVENT_MODEL_INFERENCE: _ClassVar[EventType]
    EVENT_AGENT_DECISION: _ClassVar[EventType]
    EVENT_DELEGATION: _ClassVar[EventType]
    EVENT_CONTEXT_ACCESS: _ClassVar[EventType]
    EVENT_PROMPT_EXECUTION: _ClassVar[EventType]
    EVENT_GUARDRAIL_CHECK: _ClassVar[EventType]
    EVENT_MCP_INITIALIZE: _ClassVar[EventType]
    EVENT_MCP_INITIALIZED: _ClassVar[EventType]
    EVENT_MCP_PING: _ClassVar[EventType]
    EVENT_MCP_SHUTDOWN: _ClassVar[EventType]
    EVENT_TOOL_LIST: _ClassVar[EventType]
    EVENT_RESOURCE_LIST: _ClassVar[EventType]
    EVENT_PROMPT_LIST: _ClassVar[EventType]
    EVENT_RESOURCE_READ: _ClassVar[EventType]
    EVENT_SAMPLING_REQUEST: _ClassVar[EventType]
    EVENT_SAMPLING_RESPONSE: _ClassVar[EventType]
    EVENT_TRANSPORT_CONNECT: _ClassVar[EventType]
    EVENT_TRANSPORT_DISCONNECT: _ClassVar[EventType]
    EVENT_TRANSPORT_ERROR: _ClassVar[EventType]
    EVENT_PRODUCER_HEARTBEAT: _ClassVar[EventType]
    EVENT_PRODUCER_GAP: _ClassVar[EventType]
    EVENT_PRODUCER_SILENT: _ClassVar[EventType]
    EVENT_SUBJECT_ERASED: _ClassVar[EventType]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_DEBUG: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_NOTICE: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]
    SEVERITY_ALERT: _ClassVar[Severity]
    SEVERITY_EMERGENCY: _ClassVar[Severity]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_SUCCESS: _ClassVar[Outcome]
    OUTCOME_FAILURE_UNAUTHORIZED: _ClassVar[Outcome]
    OUTCOME_FAILURE_DENIED: _ClassVar[Outcome]
    OUTCOME_FAILURE_ERROR: _ClassVar[Outcome]
    OUTCOME_PARTIAL: _ClassVar[Outcome]
    OUTCOME_OTHER: _ClassVar[Outcome]

class Sensitivity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENSITIVITY_UNSPECIFIED: _ClassVar[Sensitivity]
    SENSITIVITY_PUBLIC: _ClassVar[Sensitivity]
    SENSITIVITY_INTERNAL: _ClassVar[Sensitivity]
    SENSITIVITY_CONFIDENTIAL: _ClassVar[Sensitivity]
    SENSITIVITY_RESTRICTED: _ClassVar[Sensitivity]
    SENSITIVITY_HIGHLY_RESTRICTED: _ClassVar[Sensitivity]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_LOGIN: EventType
EVENT_LOGOUT: EventType
EVENT_FILE_ACCESS: EventType
EVENT_POLICY_CHANGE: EventType
EVENT_PRIVILEGE_USE: EventType
EVENT_CONFIG_CHANGE: EventType
EVENT_DATA_EXPORT: EventType
EVENT_NETWORK_CONNECTION: EventType
EVENT_PROCESS_START: EventType
EVENT_PROCESS_STOP: EventType
EVENT_USER_MANAGEMENT: EventType
EVENT_RESOURCE_ACCESS: EventType
EVENT_TOOL_INVOCATION: EventType
EVENT_MODEL_INFERENCE: EventType
EVENT_AGENT_DECISION: EventType
EVENT_DELEGATION: EventType
EVENT_CONTEXT_ACCESS: EventType
EVENT_PROMPT_EXECUTION: EventType
EVENT_GUARDRAIL_CHECK: EventType
EVENT_MCP_INITIALIZE: EventType
EVENT_MCP_INITIALIZED: EventType
EVENT_MCP_PING: EventType
EVENT_MCP_SHUTDOWN: EventType
EVENT_TOOL_LIST: EventType
EVENT_RESOURCE_LIST: EventType
EVENT_PROMPT_LIST: EventType
EVENT_RESOURCE_READ: EventType
EVENT_SAMPLING_REQUEST: EventType
EVENT_SAMPLING_RESPONSE: EventType
EVENT_TRANSPORT_CONNECT: EventType
EVENT_TRANSPORT_DISCONNECT: EventType
EVENT_TRANSPORT_ERROR: EventType
EVENT_PRODUCER_HEARTBEAT: EventType
EVENT_PRODUCER_GAP: EventType
EVENT_PRODUCER_SILENT: EventType
EVENT_SUBJECT_ERASED: EventType
SEVERITY_UNSPECIFIED: Severity
SEVERITY_DEBUG: Severity
SEVERITY_INFO: Severity
SEVERITY_NOTICE: Severity
SEVERITY_WARNING: Severity
SEVERITY_ERROR: Severity
SEVERITY_CRITICAL: Severity
SEVERITY_ALERT: Severity
SEVERITY_EMERGENCY: Severity
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_SUCCESS: Outcome
OUTCOME_FAILURE_UNAUTHORIZED: Outcome
OUTCOME_FAILURE_DENIED: Outcome
OUTCOME_FAILURE_ERROR: Outcome
OUTCOME_PARTIAL: Outcome
OUTCOME_OTHER: Outcome
SENSITIVITY_UNSPECIFIED: Sensitivity
SENSITIVITY_PUBLIC: Sensitivity
SENSITIVITY_INTERNAL: Sensitivity
SENSITIVITY_CONFIDENTIAL: Sensitivity
SENSITIVITY_RESTRICTED: Sensitivity
SENSITIVITY_HIGHLY_RESTRICTED: Sensitivity

class LogEntry(_message.Message):
    __slots__ = ("event_type", "outcome", "severity", "actor_id", "component", "environment", "resource", "message", "payload", "policy_tags", "sensitivity", "event_id", "event_time", "duration_ms", "tenant_id", "actor_type", "trace_id", "span_id", "parent_span_id", "session_id", "ocsf_class_uid", "ocsf_activity_id", "otel_operation_name", "change", "ai", "mcp", "content", "data", "client_id", "client_version", "server_id", "server_version", "request_size_bytes", "response_size_bytes", "geo_region", "producer", "validation_issues", "payload_content_type", "action", "producer_id", "producer_seq", "subject_ids")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
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
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OCSF_CLASS_UID_FIELD_NUMBER: _ClassVar[int]
    OCSF_ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    OTEL_OPERATION_NAME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    AI_FIELD_NUMBER: _ClassVar[int]
    MCP_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
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
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    outcome: Outcome
    severity: Severity
    actor_id: str
    component: str
    environment: str
    resource: str
    message: str
    payload: bytes
    policy_tags: _containers.RepeatedScalarFieldContainer[str]
    sensitivity: Sensitivity
    event_id: str
    event_time: _timestamp_pb2.Timestamp
    duration_ms: float
    tenant_id: str
    actor_type: str
    trace_id: str
    span_id: str
    parent_span_id: str
    session_id: str
    ocsf_class_uid: int
    ocsf_activity_id: int
    otel_operation_name: str
    change: ChangeRecord
    ai: AiInteraction
    mcp: McpCall
    content: _containers.RepeatedCompositeFieldContainer[ContentRef]
    data: _struct_pb2.Struct
    client_id: str
    client_version: str
    server_id: str
    server_version: str
    request_size_bytes: int
    response_size_bytes: int
    geo_region: str
    producer: ProducerInfo
    validation_issues: _containers.RepeatedScalarFieldContainer[str]
    payload_content_type: str
    action: str
    producer_id: str
    producer_seq: int
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_type: _Optional[_Union[EventType, str]] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., severity: _Optional[_Union[Severity, str]] = ..., actor_id: _Optional[str] = ..., component: _Optional[str] = ..., environment: _Optional[str] = ..., resource: _Optional[str] = ..., message: _Optional[str] = ..., payload: _Optional[bytes] = ..., policy_tags: _Optional[_Iterable[str]] = ..., sensitivity: _Optional[_Union[Sensitivity, str]] = ..., event_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[float] = ..., tenant_id: _Optional[str] = ..., actor_type: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., session_id: _Optional[str] = ..., ocsf_class_uid: _Optional[int] = ..., ocsf_activity_id: _Optional[int] = ..., otel_operation_name: _Optional[str] = ..., change: _Optional[_Union[ChangeRecord, _Mapping]] = ..., ai: _Optional[_Union[AiInteraction, _Mapping]] = ..., mcp: _Optional[_Union[McpCall, _Mapping]] = ..., content: _Optional[_Iterable[_Union[ContentRef, _Mapping]]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., client_id: _Optional[str] = ..., client_version: _Optional[str] = ..., server_id: _Optional[str] = ..., server_version: _Optional[str] = ..., request_size_bytes: _Optional[int] = ..., response_size_bytes: _Optional[int] = ..., geo_region: _Optional[str] = ..., producer: _Optional[_Union[ProducerInfo, _Mapping]] = ..., validation_issues: _Optional[_Iterable[str]] = ..., payload_content_type: _Optional[str] = ..., action: _Optional[str] = ..., producer_id: _Optional[str] = ..., producer_seq: _Optional[int] = ..., subject_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ChangeRecord(_message.Message):
    __slots__ = ("resource_type", "resource_id", "old_values", "new_values", "changed_fields")
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUES_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUES_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    resource_type: str
    resource_id: str
    old_values: _struct_pb2.Struct
    new_values: _struct_pb2.Struct
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resource_type: _Optional[str] = ..., resource_id: _Optional[str] = ..., old_values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., new_values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class AiInteraction(_message.Message):
    __slots__ = ("provider", "request_model", "response_model", "operation_name", "temperature", "max_tokens", "top_p", "input_tokens", "output_tokens", "total_tokens", "finish_reasons", "time_to_first_token_ms", "response_id", "conversation_id", "safety_passed", "detectors_triggered", "block_reason", "alerts", "tool_calls", "input_content", "output_content", "agent_id", "agent_name")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_MODEL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    OPERATION_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASONS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SAFETY_PASSED_FIELD_NUMBER: _ClassVar[int]
    DETECTORS_TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    BLOCK_REASON_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_CONTENT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_CONTENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    provider: str
    request_model: str
    response_model: str
    operation_name: str
    temperature: float
    max_tokens: int
    top_p: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    finish_reasons: _containers.RepeatedScalarFieldContainer[str]
    time_to_first_token_ms: float
    response_id: str
    conversation_id: str
    safety_passed: bool
    detectors_triggered: _containers.RepeatedScalarFieldContainer[str]
    block_reason: str
    alerts: _containers.RepeatedScalarFieldContainer[str]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    input_content: _containers.RepeatedScalarFieldContainer[int]
    output_content: _containers.RepeatedScalarFieldContainer[int]
    agent_id: str
    agent_name: str
    def __init__(self, provider: _Optional[str] = ..., request_model: _Optional[str] = ..., response_model: _Optional[str] = ..., operation_name: _Optional[str] = ..., temperature: _Optional[float] = ..., max_tokens: _Optional[int] = ..., top_p: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., finish_reasons: _Optional[_Iterable[str]] = ..., time_to_first_token_ms: _Optional[float] = ..., response_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., safety_passed: _Optional[bool] = ..., detectors_triggered: _Optional[_Iterable[str]] = ..., block_reason: _Optional[str] = ..., alerts: _Optional[_Iterable[str]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., input_content: _Optional[_Iterable[int]] = ..., output_content: _Optional[_Iterable[int]] = ..., agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments", "result")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments: str
    result: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ..., result: _Optional[str] = ...) -> None: ...

class McpCall(_message.Message):
    __slots__ = ("protocol_version", "request_id", "tool_name", "tool_arguments", "tool_result", "resource_uri", "resource_mime_type", "sampling", "client_capabilities", "server_capabilities", "method")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_URI_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    CLIENT_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SERVER_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    request_id: str
    tool_name: str
    tool_arguments: _struct_pb2.Struct
    tool_result: _struct_pb2.Struct
    resource_uri: str
    resource_mime_type: str
    sampling: AiInteraction
    client_capabilities: _containers.RepeatedScalarFieldContainer[str]
    server_capabilities: _containers.RepeatedScalarFieldContainer[str]
    method: str
    def __init__(self, protocol_version: _Optional[str] = ..., request_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tool_result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., resource_uri: _Optional[str] = ..., resource_mime_type: _Optional[str] = ..., sampling: _Optional[_Union[AiInteraction, _Mapping]] = ..., client_capabilities: _Optional[_Iterable[str]] = ..., server_capabilities: _Optional[_Iterable[str]] = ..., method: _Optional[str] = ...) -> None: ...

class ContentRef(_message.Message):
    __slots__ = ("name", "role", "participant", "digest", "digest_key_id", "length", "encrypted")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DIGEST_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    participant: str
    digest: bytes
    digest_key_id: str
    length: int
    encrypted: EncryptedContent
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ..., participant: _Optional[str] = ..., digest: _Optional[bytes] = ..., digest_key_id: _Optional[str] = ..., length: _Optional[int] = ..., encrypted: _Optional[_Union[EncryptedContent, _Mapping]] = ...) -> None: ...

class EncryptedContent(_message.Message):
    __slots__ = ("algorithm", "subject_key_id", "nonce", "ciphertext")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    subject_key_id: str
    nonce: bytes
    ciphertext: bytes
    def __init__(self, algorithm: _Optional[str] = ..., subject_key_id: _Optional[str] = ..., nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class ProducerInfo(_message.Message):
    __slots__ = ("schema_version", "product_name", "product_version", "vendor_name", "sdk_name", "sdk_version", "host_name", "source_message_type")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    VENDOR_NAME_FIELD_NUMBER: _ClassVar[int]
    SDK_NAME_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOST_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    schema_version: str
    product_name: str
    product_version: str
    vendor_name: str
    sdk_name: str
    sdk_version: str
    host_name: str
    source_message_type: str
    def __init__(self, schema_version: _Optional[str] = ..., product_name: _Optional[str] = ..., product_version: _Optional[str] = ..., vendor_name: _Optional[str] = ..., sdk_name: _Optional[str] = ..., sdk_version: _Optional[str] = ..., host_name: _Optional[str] = ..., source_message_type: _Optional[str] = ...) -> None: ...
