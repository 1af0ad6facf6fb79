"""Our grpc_predict_v2.proto against the standard: the messages tritonclient.grpc sends and reads must match."""

import os
import subprocess
import sys
from pathlib import Path

from tritonclient.grpc import service_pb2 as triton

from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as ours

ROOT = Path(__file__).resolve().parents[2]


def _fields(descriptor) -> dict:
    """name -> (number, type, repeated, message type, oneof) for a message and its nested messages."""
    layout = {}
    for field in descriptor.fields:
        layout[field.name] = (
            field.number,
            field.type,
            field.is_repeated,
            field.message_type.full_name if field.message_type else None,
            field.containing_oneof.name if field.containing_oneof else None,
        )
    for nested in descriptor.nested_types:
        layout[nested.name] = _fields(nested)
    return layout


def test_every_message_matches_the_standard_field_for_field():
    for name, descriptor in ours.DESCRIPTOR.message_types_by_name.items():
        standard = triton.DESCRIPTOR.message_types_by_name[name]
        assert _fields(descriptor) == _fields(standard), name


def test_the_service_has_the_protocol_rpcs_with_the_standard_types():
    service = ours.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    standard = triton.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert ours.DESCRIPTOR.package == "inference"
    assert [m.name for m in service.methods] == [
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
        "RepositoryIndex",
        "RepositoryModelLoad",
        "RepositoryModelUnload",
    ]
    for method in service.methods:
        twin = standard.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            twin.input_type.full_name,
            twin.output_type.full_name,
        )


def test_both_definitions_live_in_one_process():
    # Ours sits in a private descriptor pool, so importing tritonclient.grpc too (a notebook) must work.
    request = ours.ModelInferRequest(model_name="m")
    assert triton.ModelInferRequest.FromString(request.SerializeToString()).model_name == "m"


def test_the_committed_stubs_are_what_the_script_generates(tmp_path):
    committed_dir = ROOT / "maas_jupyter" / "serving" / "proto"
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHON": sys.executable},
    )
    generated = {path.name: path.read_bytes() for path in tmp_path.glob("grpc_predict_v2_pb2*")}
    committed = {path.name: path.read_bytes() for path in committed_dir.glob("grpc_predict_v2_pb2*")}
    assert len(generated) == 3
    assert generated == committed
