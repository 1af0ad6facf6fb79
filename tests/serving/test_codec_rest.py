"""The V2 REST codec: every datatype in JSON and binary, responses, and malformed bodies."""

import struct

import numpy as np
import orjson
import pytest

from maas_jupyter.errors import InvalidInput
from maas_jupyter.serving.codec_rest import decode_request, encode_response
from maas_jupyter.serving.types import V2_TO_NUMPY, InferenceRequest, InferenceResponse, RequestedOutput, Tensor

SAMPLES = {
    "BOOL": [True, False, True, True],
    "UINT8": [0, 1, 254, 255],
    "UINT16": [0, 1, 65534, 65535],
    "UINT32": [0, 1, 2**32 - 2, 2**32 - 1],
    "UINT64": [0, 1, 2**63, 2**64 - 1],
    "INT8": [-128, -1, 0, 127],
    "INT16": [-32768, -1, 0, 32767],
    "INT32": [-(2**31), -1, 0, 2**31 - 1],
    "INT64": [-(2**63), -1, 0, 2**63 - 1],
    "FP16": [0.5, -2.0, 0.0, 65504.0],
    "FP32": [0.25, -1.5, 3.0, 1e30],
    "FP64": [1e-300, -2.5, 3.0, 1e300],
    "BYTES": ["a", "", "\u00e9t\u00e9", "x y"],
}


def _body(datatype, data, shape=(2, 2), **extra):
    return orjson.dumps({"inputs": [{"name": "IN", "datatype": datatype, "shape": list(shape), "data": data}], **extra})


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_every_datatype_decodes_from_flat_and_nested_json(datatype):
    flat = SAMPLES[datatype]
    nested = [flat[:2], flat[2:]]
    for data in (flat, nested):
        tensor = decode_request(_body(datatype, data)).inputs[0]
        assert tensor.datatype == datatype and tensor.shape == [2, 2]
        if datatype == "BYTES":
            assert list(tensor.data.reshape(-1)) == [s.encode() for s in flat]
        else:
            assert tensor.data.dtype == V2_TO_NUMPY[datatype]
            np.testing.assert_array_equal(tensor.data.reshape(-1), np.array(flat, dtype=V2_TO_NUMPY[datatype]))


def _binary_of(datatype, values) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    return np.array(values, dtype=V2_TO_NUMPY[datatype]).tobytes()


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_every_datatype_decodes_from_the_binary_extension(datatype):
    raw = _binary_of(datatype, SAMPLES[datatype])
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "IN", "datatype": datatype, "shape": [2, 2], "parameters": {"binary_data_size": len(raw)}}
            ]
        }
    )
    tensor = decode_request(header + raw, len(header)).inputs[0]
    if datatype == "BYTES":
        assert list(tensor.data) == [s.encode() for s in SAMPLES[datatype]]
    else:
        np.testing.assert_array_equal(tensor.data, np.array(SAMPLES[datatype], dtype=V2_TO_NUMPY[datatype]))
        assert tensor.data.flags.aligned


def test_binary_inputs_take_their_bytes_in_order_beside_json_inputs():
    a = np.arange(6, dtype=np.float32)
    b = np.arange(3, dtype=np.int64)
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "A", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": a.nbytes}},
                {"name": "J", "datatype": "INT32", "shape": [1], "data": [7]},
                {"name": "B", "datatype": "INT64", "shape": [3], "parameters": {"binary_data_size": b.nbytes}},
            ]
        }
    )
    request = decode_request(header + a.tobytes() + b.tobytes(), len(header))
    np.testing.assert_array_equal(request.inputs[0].data, a)
    np.testing.assert_array_equal(request.inputs[1].data, [7])
    np.testing.assert_array_equal(request.inputs[2].data, b)


def test_request_id_parameters_and_requested_outputs_are_kept():
    request = decode_request(
        _body(
            "FP32",
            [1, 2, 3, 4],
            id="r-1",
            parameters={"p": 1},
            outputs=[{"name": "OUT", "parameters": {"binary_data": True}}],
        )
    )
    assert request.id == "r-1" and request.parameters == {"p": 1}
    assert request.outputs[0].name == "OUT" and request.outputs[0].parameters == {"binary_data": True}


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_every_datatype_encodes_to_json_and_binary(datatype):
    values = SAMPLES[datatype]
    if datatype == "BYTES":
        array = np.array([v.encode() for v in values], dtype=object).reshape(2, 2)
    else:
        array = np.array(values, dtype=V2_TO_NUMPY[datatype]).reshape(2, 2)
    response = InferenceResponse("ep", "3", [Tensor("OUT", datatype, [2, 2], array)], "r-9")
    body, header_length = encode_response(response, InferenceRequest([], []))
    assert header_length is None
    doc = orjson.loads(body)
    assert doc["model_name"] == "ep" and doc["model_version"] == "3" and doc["id"] == "r-9"
    out = doc["outputs"][0]
    assert out["shape"] == [2, 2] and out["datatype"] == datatype
    if datatype in ("FP16", "FP32"):
        np.testing.assert_array_equal(np.array(out["data"], dtype=array.dtype), array.reshape(-1))
    else:
        assert out["data"] == values

    body, header_length = encode_response(
        response, InferenceRequest([], [RequestedOutput("OUT", {"binary_data": True})])
    )
    doc = orjson.loads(body[:header_length])
    size = doc["outputs"][0]["parameters"]["binary_data_size"]
    assert "data" not in doc["outputs"][0] and len(body) == header_length + size
    assert body[header_length:] == _binary_of(datatype, values)


def test_binary_data_output_parameter_makes_every_output_binary():
    response = InferenceResponse(
        "ep", "1", [Tensor("A", "FP32", [1], np.ones(1, np.float32)), Tensor("B", "INT64", [1], np.ones(1, np.int64))]
    )
    body, header_length = encode_response(response, InferenceRequest([], [], None, {"binary_data_output": True}))
    doc = orjson.loads(body[:header_length])
    assert [o["parameters"]["binary_data_size"] for o in doc["outputs"]] == [4, 8]


BAD_BODIES = [
    (b"{not json", None, "not valid JSON"),
    (b"[1, 2]", None, "must be a JSON object"),
    (b"{}", None, "non-empty 'inputs'"),
    (orjson.dumps({"inputs": [5]}), None, "must be an object"),
    (orjson.dumps({"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}), None, "needs a 'name'"),
    (_body("FLOAT", [1, 2, 3, 4]), None, "datatype 'FLOAT'"),
    (_body("FP32", [1, 2, 3, 4], shape=(2, -2)), None, "non-negative integers"),
    (_body("FP32", [1, 2, 3, 4], shape=("2", 2)), None, "non-negative integers"),
    (_body("FP32", ["a", "b", "c", "d"]), None, "must be numbers"),
    (_body("INT32", [1.5, 2, 3, 4]), None, "must be integers"),
    (_body("UINT8", [1, 2, 3, 256]), None, "outside the UINT8 range"),
    (_body("INT8", [-129, 0, 0, 0]), None, "outside the INT8 range"),
    (_body("BOOL", [1, 0, 1, 0]), None, "true/false"),
    (_body("FP32", [[1, 2], [3]]), None, "not a regular array"),
    (_body("BYTES", [1, 2, 3, 4]), None, "must be strings"),
    (orjson.dumps({"inputs": [{"name": "IN", "datatype": "FP32", "shape": [1]}]}), None, "has no 'data'"),
    (
        orjson.dumps(
            {"inputs": [{"name": "IN", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 8}}]}
        ),
        None,
        "only 0 remain",
    ),
    (_body("FP32", [1, 2, 3, 4], outputs=[{"parameters": {}}]), None, "with a 'name'"),
    (_body("FP32", [1, 2, 3, 4], id=5), None, "'id' must be a string"),
    (_body("FP32", [1, 2, 3, 4], parameters=[1]), None, "'parameters' must be an object"),
    (b'{"inputs": []}', 99, "Inference-Header-Content-Length is 99"),
]


@pytest.mark.parametrize("body,header_length,reason", BAD_BODIES)
def test_malformed_bodies_are_invalid_input_with_the_reason(body, header_length, reason):
    with pytest.raises(InvalidInput, match=reason.replace("(", r"\(").replace("[", r"\[")):
        decode_request(body, header_length)


def test_binary_bytes_that_no_input_claims_are_rejected():
    header = orjson.dumps(
        {"inputs": [{"name": "IN", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}]}
    )
    with pytest.raises(InvalidInput, match="no input claims"):
        decode_request(header + b"\0" * 12, len(header))


def test_truncated_binary_bytes_element_is_rejected():
    raw = struct.pack("<I", 10) + b"abc"
    header = orjson.dumps(
        {"inputs": [{"name": "IN", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(raw)}}]}
    )
    with pytest.raises(InvalidInput, match="past the end"):
        decode_request(header + raw, len(header))


def test_binary_size_not_a_multiple_of_the_element_size_is_rejected():
    header = orjson.dumps(
        {"inputs": [{"name": "IN", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 3}}]}
    )
    with pytest.raises(InvalidInput, match="whole number"):
        decode_request(header + b"abc", len(header))
