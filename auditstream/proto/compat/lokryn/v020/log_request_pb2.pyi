import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogRequest(_message.Message):
    __slots__ = ("event_type", "outcome", "severity", "sensitivity", "ocsf_class_uid", "ocsf_activity_id", "otel_operation_name", "time", "duration_ms", "actor_id", "actor_type", "component", "environment", "resource", "message", "trace_id", "span_id", "parent_span_id", "session_id", "policy_tags", "metadata", "genai", "mcp", "data", "client_id", "client_version", "server_id", "server_version", "request_size_bytes", "response_size_bytes", "geo_region")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    OCSF_CLASS_UID_FIELD_NUMBER: _ClassVar[int]
    OCSF_ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    OTEL_OPERATION_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    GENAI_FIELD_NUMBER: _ClassVar[int]
    MCP_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    GEO_REGION_FIELD_NUMBER: _ClassVar[int]
    event_type: int
    outcome: int
    severity: int
    sensitivity: int
    ocsf_class_uid: int
    ocsf_activity_id: int
    otel_operation_name: str
    time: _timestamp_pb2.Timestamp
    duration_ms: int
    actor_id: str
    actor_type: str
    component: str
    environment: str
    resource: str
    message: str
    trace_id: str
    span_id: str
    parent_span_id: str
    session_id: str
    policy_tags: _containers.RepeatedScalarFieldContainer[str]
    metadata: Metadata
    genai: GenAIPayload
    mcp: MCPPayload
    data: _struct_pb2.Struct
    client_id: str
    client_version: str
    server_id: str
    server_version: str
    request_size_bytes: int
    response_size_bytes: int
    geo_region: str
    def __init__(self, event_type: _Optional[int] = ..., outcome: _Optional[int] = ..., severity: _Optional[int] = ..., sensitivity: _Optional[int] = ..., ocsf_class_uid: _Optional[int] = ..., ocsf_activity_id: _Optional[int] = ..., otel_operation_name: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[int] = ..., actor_id: _Optional[str] = ..., actor_type: _Optional[str] = ..., component: _Optional[str] = ..., environment: _Optional[str] = ..., resource: _Optional[str] = ..., message: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., session_id: _Optional[str] = ..., policy_tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ..., genai: _Optional[_Union[GenAIPayload, _Mapping]] = ..., mcp: _Optional[_Union[MCPPayload, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., client_id: _Optional[str] = ..., client_version: _Optional[str] = ..., server_id: _Optional[str] = ..., server_version: _Optional[str] = ..., request_size_bytes: _Optional[int] = ..., response_size_bytes: _Optional[int] = ..., geo_region: _Optional[str] = ...) -> None: ...

class Metadata(_message.Message):
    __slots__ = ("schema_version", "product_name", "product_version", "vendor_name")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    VENDOR_NAME_FIELD_NUMBER: _ClassVar[int]
    schema_version: str
    product_name: str
    product_version: str
    vendor_name: str
    def __init__(self, schema_version: _Optional[str] = ..., product_name: _Optional[str] = ..., product_version: _Optional[str] = ..., vendor_name: _Optional[str] = ...) -> None: ...

class GenAIPayload(_message.Message):
    __slots__ = ("model", "provider", "input_tokens", "output_tokens", "total_tokens", "temperature", "max_tokens", "top_p", "finish_reason", "time_to_first_token_ms", "response_id", "input_messages", "output_messages", "tool_calls")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    temperature: float
    max_tokens: int
    top_p: float
    finish_reason: str
    time_to_first_token_ms: int
    response_id: str
    input_messages: _containers.RepeatedCompositeFieldContainer[Message]
    output_messages: _containers.RepeatedCompositeFieldContainer[Message]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., max_tokens: _Optional[int] = ..., top_p: _Optional[float] = ..., finish_reason: _Optional[str] = ..., time_to_first_token_ms: _Optional[int] = ..., response_id: _Optional[str] = ..., input_messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., output_messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("role", "content", "name")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    name: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

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

class MCPPayload(_message.Message):
    __slots__ = ("protocol_version", "request_id", "tool_name", "tool_arguments", "tool_result", "resource_uri", "resource_mime_type", "sampling", "client_capabilities", "server_capabilities")
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
    protocol_version: str
    request_id: str
    tool_name: str
    tool_arguments: _struct_pb2.Struct
    tool_result: _struct_pb2.Struct
    resource_uri: str
    resource_mime_type: str
    sampling: GenAIPayload
    client_capabilities: _containers.RepeatedScalarFieldContainer[str]
    server_capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, protocol_version: _Optional[str] = ..., request_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tool_result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., resource_uri: _Optional[str] = ..., resource_mime_type: _Optional[str] = ..., sampling: _Optional[_Union[GenAIPayload, _Mapping]] = ..., client_capabilities: _Optional[_Iterable[str]] = ..., server_capabilities: _Optional[_Iterable[str]] = ...) -> None: ...
