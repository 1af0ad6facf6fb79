"""Unit tests of the gRPC codec: every datatype, typed contents and raw contents both ways, bad messages."""

import numpy as np
import pytest

from maas_jupyter.errors import InvalidInput
from maas_jupyter.serving import grpc_codec
from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
from maas_jupyter.serving.types import InferenceRequest, InferenceResponse, RequestedOutput, Tensor

SAMPLES = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": np.array([[0, 7, 255], [1, 2, 3]], dtype=np.uint8),
    "UINT16": np.array([[0, 7, 65535], [1, 2, 3]], dtype=np.uint16),
    "UINT32": np.array([[0, 7, 2**32 - 1], [1, 2, 3]], dtype=np.uint32),
    "UINT64": np.array([[0, 7, 2**64 - 1], [1, 2, 3]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127], [1, -2, 3]], dtype=np.int8),
    "INT16": np.array([[-32768, 0, 32767], [1, -2, 3]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1], [1, -2, 3]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1], [1, -2, 3]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.25, 65504.0], [1, 2, 3]], dtype=np.float16),
    "FP32": np.array([[0.5, -1.25, 3.4e38], [1, 2, 3]], dtype=np.float32),
    "FP64": np.array([[0.5, -1.25, 1.7e308], [1, 2, 3]], dtype=np.float64),
    "BYTES": np.array([[b"a", b"", b"\x00\xff"], [b"xyz", "\u00e9".encode(), b"b"]], dtype=object),
}
TYPED = [datatype for datatype in SAMPLES if datatype != "FP16"]


def _request(datatype, *, raw):
    array = SAMPLES[datatype]
    tensor = Tensor("x", datatype, list(array.shape), array)
    return grpc_codec.encode_infer_request(InferenceRequest(inputs=[tensor]), model_name="m", raw=raw)


def _assert_same(decoded: np.ndarray, expected: np.ndarray):
    assert decoded.dtype == expected.dtype
    assert decoded.tolist() == expected.ravel().tolist()


@pytest.mark.parametrize("datatype", TYPED)
def test_typed_contents_decode_to_the_datatype(datatype):
    message = _request(datatype, raw=False)
    assert not message.raw_input_contents
    request = grpc_codec.decode_infer_request(pb.ModelInferRequest.FromString(message.SerializeToString()))
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, [2, 3])
    _assert_same(tensor.data, SAMPLES[datatype])
    assert not grpc_codec.request_wants_raw_outputs(message)


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_raw_contents_decode_to_the_datatype(datatype):
    message = _request(datatype, raw=True)
    assert len(message.raw_input_contents) == 1
    request = grpc_codec.decode_infer_request(pb.ModelInferRequest.FromString(message.SerializeToString()))
    _assert_same(request.inputs[0].data, SAMPLES[datatype])
    assert grpc_codec.request_wants_raw_outputs(message)


def test_raw_bytes_layout_is_little_endian_with_length_prefixes():
    assert (
        grpc_codec.encode_bytes_elements(np.array([b"ab", b""], dtype=object)) == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
    )
    message = _request("INT32", raw=True)
    assert message.raw_input_contents[0][:4] == (-(2**31)).to_bytes(4, "little", signed=True)


@pytest.mark.parametrize("datatype", list(SAMPLES))
@pytest.mark.parametrize("raw", [True, False])
def test_response_round_trips_raw_and_typed(datatype, raw):
    array = SAMPLES[datatype]
    response = InferenceResponse(
        "m",
        "3",
        [Tensor("y", datatype, list(array.shape), array)],
        id="r1",
        parameters={"batched": True, "rows": 2, "note": "ok", "ratio": 0.5},
    )
    message = grpc_codec.encode_infer_response(response, raw=raw)
    wire = pb.ModelInferResponse.FromString(message.SerializeToString())
    assert (wire.model_name, wire.model_version, wire.id) == ("m", "3", "r1")
    assert grpc_codec.decode_parameters(wire.parameters) == {"batched": True, "rows": 2, "note": "ok", "ratio": 0.5}
    # FP16 has no typed field, so it always answers raw.
    assert bool(wire.raw_output_contents) == (raw or datatype == "FP16")
    decoded = grpc_codec.decode_infer_response(wire)["y"]
    assert decoded.shape == array.shape
    assert decoded.dtype == array.dtype
    assert decoded.tolist() == array.tolist()


def test_unicode_outputs_from_onnx_runtime_go_out_as_utf8_bytes():
    array = np.array(["caf\u00e9", "x"])
    response = InferenceResponse("m", "1", [Tensor("label", "BYTES", [2], array)])
    for raw in (True, False):
        decoded = grpc_codec.decode_infer_response(grpc_codec.encode_infer_response(response, raw=raw))
        assert decoded["label"].tolist() == ["caf\u00e9".encode(), b"x"]


def test_requested_outputs_ids_and_parameters_are_decoded():
    message = pb.ModelInferRequest(model_name="m", id="abc")
    message.parameters["priority"].int64_param = 2
    message.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
    message.outputs.add(name="probs").parameters["classification"].bool_param = False
    request = grpc_codec.decode_infer_request(message)
    assert request.id == "abc"
    assert request.parameters == {"priority": 2}
    assert request.outputs == [RequestedOutput("probs", {"classification": False})]


def test_no_requested_outputs_means_an_empty_list():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=[0])
    assert grpc_codec.decode_infer_request(message).outputs == []


def _bad(message, reason):
    with pytest.raises(InvalidInput, match=reason):
        grpc_codec.decode_infer_request(message)


def test_element_count_that_does_not_match_the_shape_is_rejected():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=[2, 2]).contents.fp32_contents.extend([1, 2, 3])
    _bad(message, r"shape \[2, 2\] needs 4 elements, fp32_contents holds 3")


def test_contents_in_the_wrong_field_name_the_right_one():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=[2]).contents.int_contents.extend([1, 2])
    _bad(message, "FP32, which goes in fp32_contents; the request filled int_contents")


def test_unknown_datatype_is_rejected():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FLOAT", shape=[1]).contents.fp32_contents.append(1)
    _bad(message, "'FLOAT', which is not a V2 datatype")


def test_fp16_typed_contents_are_refused_with_the_raw_alternative():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP16", shape=[1]).contents.fp32_contents.append(1)
    _bad(message, "FP16 has no typed contents field; send it in raw_input_contents")


def test_narrow_integers_out_of_range_are_rejected_not_wrapped():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="UINT8", shape=[2]).contents.uint_contents.extend([1, 300])
    _bad(message, r"outside the range of UINT8 \[0, 255\]")


def test_negative_dimension_is_rejected():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=[-1])
    _bad(message, "negative dimension")


def test_raw_size_that_does_not_match_the_shape_is_rejected():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=[3])
    message.raw_input_contents.append(b"\x00" * 8)
    _bad(message, r"needs 12 bytes, raw_input_contents holds 8")


def test_raw_entries_must_match_the_inputs_one_to_one():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="a", datatype="FP32", shape=[1])
    message.inputs.add(name="b", datatype="FP32", shape=[1])
    message.raw_input_contents.append(b"\x00" * 4)
    _bad(message, "2 inputs but 1 raw_input_contents")


def test_contents_and_raw_together_are_rejected():
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1)
    message.raw_input_contents.append(b"\x00" * 4)
    _bad(message, "both contents and raw_input_contents")


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"\x05\x00\x00\x00ab", "runs past the end"),
        (b"\x01\x00", "inside a length prefix"),
        (b"\x01\x00\x00\x00a", r"needs 2 BYTES elements, the raw contents hold 1"),
    ],
)
def test_malformed_bytes_raw_contents_are_rejected(raw, reason):
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="s", datatype="BYTES", shape=[2])
    message.raw_input_contents.append(raw)
    _bad(message, reason)
