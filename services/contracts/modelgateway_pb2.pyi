from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Resource(_message.Message):
    __slots__ = ("type", "uri")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    type: str
    uri: str
    def __init__(self, type: _Optional[str] = ..., uri: _Optional[str] = ...) -> None: ...

class PlanRequest(_message.Message):
    __slots__ = ("prompt", "resources")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    def __init__(self, prompt: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ...) -> None: ...

class PlanResponse(_message.Message):
    __slots__ = ("plan", "model_name", "latency_ms")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    plan: str
    model_name: str
    latency_ms: int
    def __init__(self, plan: _Optional[str] = ..., model_name: _Optional[str] = ..., latency_ms: _Optional[int] = ...) -> None: ...

class PlanChunk(_message.Message):
    __slots__ = ("delta", "reset", "plan", "model_name", "provider", "latency_ms", "prompt_tokens", "completion_tokens")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    delta: str
    reset: bool
    plan: str
    model_name: str
    provider: str
    latency_ms: int
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, delta: _Optional[str] = ..., reset: _Optional[bool] = ..., plan: _Optional[str] = ..., model_name: _Optional[str] = ..., provider: _Optional[str] = ..., latency_ms: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class RAGContextRequest(_message.Message):
    __slots__ = ("query", "top_k", "knowledge_bases", "namespace")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    KNOWLEDGE_BASES_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    query: str
    top_k: int
    knowledge_bases: _containers.RepeatedScalarFieldContainer[str]
    namespace: str
    def __init__(self, query: _Optional[str] = ..., top_k: _Optional[int] = ..., knowledge_bases: _Optional[_Iterable[str]] = ..., namespace: _Optional[str] = ...) -> None: ...

class RAGMatch(_message.Message):
    __slots__ = ("id", "text", "distance", "knowledge_base", "source")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    KNOWLEDGE_BASE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    distance: float
    knowledge_base: str
    source: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., distance: _Optional[float] = ..., knowledge_base: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class RAGContextResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[RAGMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[RAGMatch, _Mapping]]] = ...) -> None: ...

class PlanContextRequest(_message.Message):
    __slots__ = ("rag", "session_id", "history_limit")
    RAG_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    rag: RAGContextRequest
    session_id: str
    history_limit: int
    def __init__(self, rag: _Optional[_Union[RAGContextRequest, _Mapping]] = ..., session_id: _Optional[str] = ..., history_limit: _Optional[int] = ...) -> None: ...

class HistoryMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class PlanContextResponse(_message.Message):
    __slots__ = ("matches", "history", "session_id", "rag_error", "history_error")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RAG_ERROR_FIELD_NUMBER: _ClassVar[int]
    HISTORY_ERROR_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[RAGMatch]
    history: _containers.RepeatedCompositeFieldContainer[HistoryMessage]
    session_id: str
    rag_error: str
    history_error: str
    def __init__(self, matches: _Optional[_Iterable[_Union[RAGMatch, _Mapping]]] = ..., history: _Optional[_Iterable[_Union[HistoryMessage, _Mapping]]] = ..., session_id: _Optional[str] = ..., rag_error: _Optional[str] = ..., history_error: _Optional[str] = ...) -> None: ...

class ToolRequest(_message.Message):
    __slots__ = ("tool_name", "args_json", "execution_environment", "cpu_limit_mhz", "memory_limit_mb", "timeout_seconds")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_MHZ_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    args_json: str
    execution_environment: str
    cpu_limit_mhz: int
    memory_limit_mb: int
    timeout_seconds: int
    def __init__(self, tool_name: _Optional[str] = ..., args_json: _Optional[str] = ..., execution_environment: _Optional[str] = ..., cpu_limit_mhz: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class ToolResponse(_message.Message):
    __slots__ = ("status", "stdout", "stderr")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    status: str
    stdout: str
    stderr: str
    def __init__(self, status: _Optional[str] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ...) -> None: ...
