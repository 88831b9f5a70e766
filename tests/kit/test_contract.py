"""The wire contract: proto/ must match the original system's names and field numbers."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from scripts.gen_proto import DEFAULT_OUT, PROTO_DIR, generate

T = descriptor_pb2.FieldDescriptorProto
STRING, INT32, INT64, DOUBLE, MESSAGE = (
    T.TYPE_STRING,
    T.TYPE_INT32,
    T.TYPE_INT64,
    T.TYPE_DOUBLE,
    T.TYPE_MESSAGE,
)
REPEATED = T.LABEL_REPEATED

# message -> {number: (name, type, repeated, message type or "")}
EXPECTED_MESSAGES = {
    "Resource": {1: ("type", STRING, False, ""), 2: ("uri", STRING, False, "")},
    "PlanRequest": {
        1: ("prompt", STRING, False, ""),
        2: ("resources", MESSAGE, True, ".modelgateway.Resource"),
    },
    "PlanResponse": {
        1: ("plan", STRING, False, ""),
        2: ("model_name", STRING, False, ""),
        3: ("latency_ms", INT64, False, ""),
    },
    # Added here (not in the original system): StreamPlan's message.
    "PlanChunk": {
        1: ("delta", STRING, False, ""),
        2: ("reset", T.TYPE_BOOL, False, ""),
        3: ("plan", STRING, False, ""),
        4: ("model_name", STRING, False, ""),
        5: ("provider", STRING, False, ""),
        6: ("latency_ms", INT64, False, ""),
        7: ("prompt_tokens", INT64, False, ""),
        8: ("completion_tokens", INT64, False, ""),
    },
    "RAGContextRequest": {
        1: ("query", STRING, False, ""),
        2: ("top_k", INT32, False, ""),
        3: ("knowledge_bases", STRING, True, ""),
        4: ("namespace", STRING, False, ""),
    },
    "RAGMatch": {
        1: ("id", STRING, False, ""),
        2: ("text", STRING, False, ""),
        3: ("distance", DOUBLE, False, ""),
        4: ("knowledge_base", STRING, False, ""),
        5: ("source", STRING, False, ""),
    },
    "RAGContextResponse": {1: ("matches", MESSAGE, True, ".modelgateway.RAGMatch")},
    # Added here: GetPlanContext's messages.
    "PlanContextRequest": {
        1: ("rag", MESSAGE, False, ".modelgateway.RAGContextRequest"),
        2: ("session_id", STRING, False, ""),
        3: ("history_limit", INT32, False, ""),
    },
    "HistoryMessage": {1: ("role", STRING, False, ""), 2: ("content", STRING, False, "")},
    "PlanContextResponse": {
        1: ("matches", MESSAGE, True, ".modelgateway.RAGMatch"),
        2: ("history", MESSAGE, True, ".modelgateway.HistoryMessage"),
        3: ("session_id", STRING, False, ""),
        4: ("rag_error", STRING, False, ""),
        5: ("history_error", STRING, False, ""),
    },
    "ToolRequest": {
        1: ("tool_name", STRING, False, ""),
        2: ("args_json", STRING, False, ""),
        3: ("execution_environment", STRING, False, ""),
        4: ("cpu_limit_mhz", INT32, False, ""),
        5: ("memory_limit_mb", INT32, False, ""),
        6: ("timeout_seconds", INT32, False, ""),
    },
    "ToolResponse": {
        1: ("status", STRING, False, ""),
        2: ("stdout", STRING, False, ""),
        3: ("stderr", STRING, False, ""),
    },
}
EXPECTED_SERVICES = {
    "ModelGateway": {
        "GetPlan": (".modelgateway.PlanRequest", ".modelgateway.PlanResponse"),
        "GetRAGContext": (".modelgateway.RAGContextRequest", ".modelgateway.RAGContextResponse"),
        "StreamPlan": (".modelgateway.PlanRequest", ".modelgateway.PlanChunk"),  # added here
        "GetPlanContext": (  # added here
            ".modelgateway.PlanContextRequest",
            ".modelgateway.PlanContextResponse",
        ),
    },
    "ToolService": {"ExecuteTool": (".modelgateway.ToolRequest", ".modelgateway.ToolResponse")},
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorProto:
    out = tmp_path_factory.mktemp("descriptor") / "set.pb"
    code = protoc.main(
        ["protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}", "modelgateway.proto"]
    )
    assert code == 0, "proto/modelgateway.proto does not compile"
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    assert len(files) == 1
    return files[0]


def test_package_is_modelgateway(compiled: descriptor_pb2.FileDescriptorProto) -> None:
    assert compiled.package == "modelgateway"


def test_messages_keep_original_names_numbers_and_types(
    compiled: descriptor_pb2.FileDescriptorProto,
) -> None:
    actual = {
        message.name: {
            field.number: (
                field.name,
                field.type,
                field.label == REPEATED,
                field.type_name,
            )
            for field in message.field
        }
        for message in compiled.message_type
    }
    assert actual == EXPECTED_MESSAGES


def test_services_keep_original_methods(compiled: descriptor_pb2.FileDescriptorProto) -> None:
    actual = {
        service.name: {m.name: (m.input_type, m.output_type) for m in service.method}
        for service in compiled.service
    }
    assert actual == EXPECTED_SERVICES


def test_generated_modules_are_fresh(tmp_path: Path) -> None:
    """Fails when proto/ changed and `make proto` was not run (or the output was edited)."""
    generate(tmp_path)
    names = sorted(p.name for p in tmp_path.glob("*_pb2*.py*"))
    committed = sorted(p.name for p in DEFAULT_OUT.glob("*_pb2*.py*"))
    assert names == committed
    _, mismatch, errors = filecmp.cmpfiles(tmp_path, DEFAULT_OUT, names, shallow=False)
    assert not mismatch and not errors, (
        f"stale generated modules: {mismatch or errors}; run make proto"
    )


def test_generated_code_imports_as_a_package() -> None:
    from services.contracts import modelgateway_pb2, modelgateway_pb2_grpc

    assert modelgateway_pb2_grpc.modelgateway__pb2 is modelgateway_pb2  # type: ignore[attr-defined]
    request = modelgateway_pb2.RAGContextRequest(query="q", namespace="pet_dog")
    assert modelgateway_pb2.RAGContextRequest.FromString(request.SerializeToString()) == request
