"""Property tests of the V2 codecs (REST JSON, the binary tensor extension, gRPC, the Python client) with hypothesis.

Round trips: tensors of every datatype the project serves, with generated shapes (zero-size dimensions included)
and values, come back equal through every encoder/decoder pair (NaN compares as NaN; JSON carries finite values
only, by design). Robustness: whatever bytes, JSON-ish documents or protobuf messages arrive, the decoders raise
nothing but the core's typed errors (MaasError). Bounded for CI: derandomized, a fixed number of examples per
test, no deadline, no example database (the same examples on every run and every machine).
"""

from __future__ import annotations

import io
import json
import math
import struct

import numpy as np
import orjson
import pytest
import requests
import tritonclient.http as triton_http
from google.protobuf.message import DecodeError
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from requests.structures import CaseInsensitiveDict

from maas_jupyter.errors import InvalidInput, MaasError
from maas_jupyter.serving import grpc_codec
from maas_jupyter.serving.client import ServingClient, decode_binary_response
from maas_jupyter.serving.codec_rest import decode_request, encode_response
from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
from maas_jupyter.serving.types import V2_TO_NUMPY, InferenceRequest, InferenceResponse, RequestedOutput, Tensor

# numpy reports overflows and invalid values as RuntimeWarnings: from a decoder they are noise in the server's
# log and a 500 under `python -W error`. Here they fail the test.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
# The protocol's typed contents field of each datatype, written out here rather than taken from the codec, so a
# wrong table in the codec cannot agree with itself. FP16 has none: half floats only travel as raw bytes.
TYPED_FIELDS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def bounded(max_examples: int):
    """Settings of every property here: the same examples on every run (derandomize), no example database,
    no deadline (no timing in tests); max_examples keeps the whole file to a few seconds on one core."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None)


# ---- strategies -----------------------------------------------------------------------------------

# Up to 4 dimensions of 0..3: zero-size tensors and scalars (shape []) come up often, arrays stay small.
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)


@st.composite
def arrays(draw, datatype: str, *, json_safe: bool):
    """A numpy array of `datatype` with a generated shape. json_safe: finite floats, and BYTES elements that are
    UTF-8 text (V2 JSON carries BYTES as strings); otherwise any float (NaN, infinities) and any bytes."""
    shape = draw(SHAPES)
    if datatype == "BYTES":
        element = (
            st.text(st.characters(codec="utf-8"), max_size=6).map(str.encode) if json_safe else st.binary(max_size=6)
        )
        count = math.prod(shape)
        array = np.empty(count, dtype=object)
        array[:] = draw(st.lists(element, min_size=count, max_size=count))
        return array.reshape(shape)
    dtype = V2_TO_NUMPY[datatype]
    elements = None  # hypothesis covers the whole range of integer and bool dtypes by default
    if dtype.kind == "f":
        elements = st.floats(width=8 * dtype.itemsize, allow_nan=not json_safe, allow_infinity=not json_safe)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def named_arrays(draw, *, json_safe: bool, datatypes=DATATYPES, max_size: int = 3):
    """1..max_size (name, datatype, array) of any datatypes, with distinct names."""
    chosen = draw(st.lists(st.sampled_from(datatypes), min_size=1, max_size=max_size))
    return [(f"t{i}", datatype, draw(arrays(datatype, json_safe=json_safe))) for i, datatype in enumerate(chosen)]


def _as_bytes(value) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def assert_same(actual, expected: np.ndarray, datatype: str) -> None:
    """Same shape and values: BYTES element by element, numbers with the dtype of the datatype, NaN equal to
    NaN and the sign of zeros kept."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    if datatype == "BYTES":
        assert [_as_bytes(v) for v in actual.reshape(-1)] == [bytes(v) for v in expected.reshape(-1)]
        return
    assert actual.dtype == V2_TO_NUMPY[datatype]
    np.testing.assert_array_equal(actual, expected)  # NaN == NaN here
    if expected.dtype.kind == "f":
        numbers = ~np.isnan(expected)
        assert (np.signbit(actual[numbers]) == np.signbit(expected[numbers])).all()


def spec_raw(array: np.ndarray, datatype: str) -> bytes:
    """The protocol's raw layout, written from the specification: little-endian elements in row-major order;
    BYTES elements each a 4-byte little-endian length then the bytes."""
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + bytes(v) for v in array.reshape(-1))
    return np.ascontiguousarray(array, dtype=V2_TO_NUMPY[datatype].newbyteorder("<")).tobytes()


def json_data(array: np.ndarray, datatype: str, nested: bool):
    """What a client writes as "data": nested lists following the shape or a flat list; BYTES as strings."""
    if datatype == "BYTES":
        flat = [v.decode("utf-8") for v in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if nested and array.ndim else flat
    return array.tolist() if nested else array.reshape(-1).tolist()


def decoded(tensor: Tensor) -> np.ndarray:
    """A decoded input as the data plane sees it: its elements in its shape."""
    return tensor.data.reshape(tensor.shape)


# ---- REST requests --------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", DATATYPES)
@bounded(25)
@given(data=st.data(), nested=st.booleans())
def test_json_inputs_round_trip(datatype, data, nested):
    array = data.draw(arrays(datatype, json_safe=True))
    body = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": datatype,
                    "shape": list(array.shape),
                    "data": json_data(array, datatype, nested),
                }
            ]
        }
    )
    (tensor,) = decode_request(body).inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, list(array.shape))
    assert_same(decoded(tensor), array, datatype)


@pytest.mark.parametrize("datatype", DATATYPES)
@bounded(25)
@given(data=st.data())
def test_binary_inputs_round_trip(datatype, data):
    array = data.draw(arrays(datatype, json_safe=False))
    raw = spec_raw(array, datatype)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": datatype,
                    "shape": list(array.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    (tensor,) = decode_request(header + raw, len(header)).inputs
    assert tensor.shape == list(array.shape)
    assert_same(decoded(tensor), array, datatype)


@bounded(100)
@given(data=st.data())
def test_tritonclient_requests_mixing_json_and_binary_inputs_round_trip(data):
    """Bodies written by tritonclient (the standard V2 client): binary inputs take their bytes in order
    beside JSON inputs, whatever their sizes (zero included)."""
    tensors, inputs = [], []
    for index, datatype in enumerate(data.draw(st.lists(st.sampled_from(DATATYPES), min_size=1, max_size=4))):
        name = f"t{index}"
        binary = data.draw(st.booleans(), label=f"{name} binary")
        array = data.draw(arrays(datatype, json_safe=not binary), label=name)
        infer_input = triton_http.InferInput(name, list(array.shape), datatype)
        infer_input.set_data_from_numpy(array, binary_data=binary)
        tensors.append((name, datatype, array))
        inputs.append(infer_input)
    body, json_size = triton_http.InferenceServerClient.generate_request_body(inputs)
    request = decode_request(body, json_size)
    assert [t.name for t in request.inputs] == [name for name, _, _ in tensors]
    for tensor, (_, datatype, array) in zip(request.inputs, tensors):
        assert tensor.datatype == datatype and tensor.shape == list(array.shape)
        assert_same(decoded(tensor), array, datatype)


# ---- REST responses -------------------------------------------------------------------------------


@bounded(100)
@given(data=st.data(), all_binary=st.booleans())
def test_responses_round_trip_in_json_and_binary(data, all_binary):
    """encode_response read back by tritonclient and by the project's client: each output in JSON or binary
    (asked per output, or for all with binary_data_output); only binary outputs carry NaN and infinities."""
    outputs, requested = [], []
    for index, datatype in enumerate(data.draw(st.lists(st.sampled_from(DATATYPES), min_size=1, max_size=4))):
        name = f"t{index}"
        binary = all_binary or data.draw(st.booleans(), label=f"{name} binary")
        array = data.draw(arrays(datatype, json_safe=not binary), label=name)
        outputs.append(Tensor(name, datatype, list(array.shape), array))
        requested.append(RequestedOutput(name, {"binary_data": True} if binary else {}))
    request = InferenceRequest(
        [], [] if all_binary else requested, parameters={"binary_data_output": True} if all_binary else {}
    )
    body, json_length = encode_response(InferenceResponse("m", "1", outputs, "r"), request)
    if not any(all_binary or o.parameters for o in requested):
        assert json_length is None  # a plain JSON body: no Inference-Header-Content-Length
    result = triton_http.InferResult.from_response_body(body, header_length=json_length)
    ours = decode_binary_response(body, None if json_length is None else str(json_length))
    assert list(ours) == [t.name for t in outputs]
    for tensor in outputs:
        assert result.get_output(tensor.name)["shape"] == tensor.shape
        assert_same(result.as_numpy(tensor.name), tensor.data, tensor.datatype)
        assert_same(ours[tensor.name], tensor.data, tensor.datatype)


@pytest.mark.parametrize("datatype", ["FP16", "FP32", "FP64"])
@bounded(20)
@given(data=st.data())
def test_outputs_json_cannot_carry_are_refused_not_written_as_null(datatype, data):
    array = data.draw(arrays(datatype, json_safe=False).filter(lambda a: a.size > 0))
    # at least one NaN or infinity, anywhere (drawn in, not filtered for: most arrays are finite)
    array.flat[data.draw(st.integers(0, array.size - 1))] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    response = InferenceResponse("m", "1", [Tensor("y", datatype, list(array.shape), array)])
    with pytest.raises(InvalidInput, match="NaN or infinite"):
        encode_response(response, InferenceRequest([]))


# ---- gRPC -----------------------------------------------------------------------------------------


def _on_the_wire(message):
    """The message as the peer parses it from the wire."""
    return type(message).FromString(message.SerializeToString())


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d != "FP16"])
@bounded(25)
@given(data=st.data())
def test_grpc_typed_contents_round_trip(datatype, data):
    array = data.draw(arrays(datatype, json_safe=False))
    message = pb.ModelInferRequest(model_name="m")
    entry = message.inputs.add(name="x", datatype=datatype, shape=list(array.shape))
    values = list(array.reshape(-1)) if datatype == "BYTES" else array.reshape(-1).tolist()
    getattr(entry.contents, TYPED_FIELDS[datatype]).extend(values)
    (tensor,) = grpc_codec.decode_infer_request(_on_the_wire(message)).inputs
    assert tensor.shape == list(array.shape)
    assert_same(decoded(tensor), array, datatype)


@pytest.mark.parametrize("datatype", DATATYPES)
@bounded(25)
@given(data=st.data())
def test_grpc_raw_input_contents_round_trip(datatype, data):
    tensors = data.draw(named_arrays(json_safe=False, datatypes=[datatype]))
    message = pb.ModelInferRequest(model_name="m")
    for name, dt, array in tensors:
        message.inputs.add(name=name, datatype=dt, shape=list(array.shape))
        message.raw_input_contents.append(spec_raw(array, dt))
    request = grpc_codec.decode_infer_request(_on_the_wire(message))
    for tensor, (name, dt, array) in zip(request.inputs, tensors, strict=True):
        assert (tensor.name, tensor.shape) == (name, list(array.shape))
        assert_same(decoded(tensor), array, dt)
    # The project's own client-side encoder writes the same bytes.
    ours = grpc_codec.encode_infer_request(request, model_name="m", raw=True)
    assert list(ours.raw_input_contents) == list(message.raw_input_contents)


@bounded(100)
@given(data=st.data(), raw=st.booleans())
def test_grpc_responses_round_trip_raw_and_typed(data, raw):
    outputs = [
        Tensor(name, datatype, list(array.shape), array)
        for name, datatype, array in data.draw(named_arrays(json_safe=False, max_size=4))
    ]
    message = _on_the_wire(grpc_codec.encode_infer_response(InferenceResponse("m", "2", outputs, "r"), raw=raw))
    # FP16 has no typed field: one FP16 output makes the whole answer raw (raw is one entry per output).
    assert bool(message.raw_output_contents) == (raw or any(t.datatype == "FP16" for t in outputs))
    if message.raw_output_contents:
        assert list(message.raw_output_contents) == [spec_raw(t.data, t.datatype) for t in outputs]
    arrays_back = grpc_codec.decode_infer_response(message)
    assert list(arrays_back) == [t.name for t in outputs]
    for tensor in outputs:
        assert_same(arrays_back[tensor.name], tensor.data, tensor.datatype)


# ---- the Python client against the server's codec ------------------------------------------------


class ServerCodec(requests.adapters.BaseAdapter):
    """A transport for ServingClient that answers /infer as the REST handler does with the server's codec:
    decode_request, outputs equal to the inputs, encode_response. No socket: the bytes are the point here."""

    def __init__(self):
        super().__init__()
        self.request: InferenceRequest | None = None

    def send(self, prepared, **kwargs):
        header = prepared.headers.get("Inference-Header-Content-Length")
        self.request = decode_request(prepared.body, None if header is None else int(header))
        echoed = [Tensor(t.name, t.datatype, t.shape, decoded(t)) for t in self.request.inputs]
        body, json_length = encode_response(InferenceResponse("echo", "1", echoed), self.request)
        reply = requests.Response()
        reply.status_code, reply.url, reply.request = 200, prepared.url, prepared
        reply.headers = CaseInsensitiveDict({"Content-Type": "application/octet-stream"})
        if json_length is not None:
            reply.headers["Inference-Header-Content-Length"] = str(json_length)
        reply.raw = io.BytesIO(body)
        return reply

    def close(self):
        pass


@bounded(100)
@given(tensors=named_arrays(json_safe=False, max_size=4))
def test_python_client_requests_and_responses_round_trip(tensors):
    client = ServingClient("http://serving.invalid")
    server = ServerCodec()
    client.session.mount("http://serving.invalid/", server)
    try:
        metadata = {
            "inputs": [
                {"name": name, "datatype": datatype, "shape": list(array.shape)} for name, datatype, array in tensors
            ]
        }
        result = client.predict("echo", {name: array for name, _, array in tensors}, metadata=metadata)
    finally:
        client.close()
    assert [t.name for t in server.request.inputs] == list(result) == [name for name, _, _ in tensors]
    for tensor, (name, datatype, array) in zip(server.request.inputs, tensors):
        assert tensor.datatype == datatype and tensor.shape == list(array.shape)
        assert_same(decoded(tensor), array, datatype)  # what the server decoded from the client's request
        assert_same(result[name], array, datatype)  # what the client decoded from the server's response


# ---- invalid REST input: typed errors only --------------------------------------------------------


def decodes_or_refuses(decode, *args):
    """Run a decoder on bad input: it may accept it or raise a core error; anything else fails the test."""
    try:
        result = decode(*args)
    except MaasError:
        return None
    return result


def leaves(data) -> list:
    """The scalars of nested lists, in order (a scalar is its own only leaf)."""
    if not isinstance(data, list):
        return [data]
    return [leaf for item in data for leaf in leaves(item)]


def assert_same_values(tensor: Tensor, sent: list) -> None:
    """An accepted tensor holds exactly the values sent: integers and booleans neither wrapped nor rounded,
    floats rounded to the datatype only, text as its UTF-8 bytes."""
    flat = tensor.data.reshape(-1)
    if tensor.datatype == "BYTES":
        assert flat.tolist() == [_as_bytes(v) for v in sent]
    elif tensor.data.dtype.kind == "f":
        np.testing.assert_array_equal(flat, np.array(sent, dtype=np.float64).astype(tensor.data.dtype))
    else:
        assert flat.tolist() == sent


def assert_well_formed(request: InferenceRequest, body: bytes, header_length: int | None) -> None:
    """What decode_request returns when it accepts: arrays of the declared datatype (BYTES: bytes elements)
    holding the values of the JSON data."""
    assert request.inputs
    document = json.loads(body if header_length is None else body[:header_length])
    for raw, tensor in zip(document["inputs"], request.inputs, strict=True):
        assert isinstance(tensor.name, str) and all(type(d) is int and d >= 0 for d in tensor.shape)
        assert tensor.data.dtype == V2_TO_NUMPY[tensor.datatype]
        if tensor.datatype == "BYTES":
            assert all(isinstance(v, bytes) for v in tensor.data.reshape(-1))
        if "data" in raw:
            assert_same_values(tensor, leaves(raw["data"]))


def header_lengths(body_size: int):
    """Inference-Header-Content-Length values around and far from the body's size, None when the header is
    absent (the REST handler passes on numbers of up to 9 ASCII digits; the codec must not rely on it)."""
    return st.one_of(st.none(), st.integers(-2, body_size + 2), st.integers(-(2**64), 2**64))


@bounded(200)
@given(case=st.binary(max_size=80).flatmap(lambda body: st.tuples(st.just(body), header_lengths(len(body)))))
@example(case=(b'{"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1]}]}', 24))  # a header cut mid-JSON
def test_arbitrary_bytes_are_refused_with_typed_errors(case):
    request = decodes_or_refuses(decode_request, *case)
    if request is not None:
        assert_well_formed(request, *case)


# Scalars and containers of any JSON type, wrong types everywhere, integers past 64 bits, NaN and infinities
# (json.dumps writes them as NaN/Infinity, which the decoder's parser must refuse cleanly).
TEXT = st.text(st.characters(codec="utf-8"), max_size=6)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**80), 2**80), st.floats(), TEXT)
JSONISH = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def deeply_nested(leaf, depth: int):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


# Data values: regular and ragged nested lists of numbers from every range (past the datatypes', past 64 bits),
# mixed with booleans, strings and nulls; lists nested deeper than numpy's 32 dimensions.
NUMBERS = st.one_of(
    st.integers(-300, 300),
    st.integers(-(2**66), 2**66),
    st.floats(allow_nan=False),
    st.floats(-7e4, 7e4),
    st.booleans(),
)
DATA = st.one_of(
    st.recursive(NUMBERS, lambda children: st.lists(children, max_size=4), max_leaves=16),
    st.lists(st.lists(NUMBERS, min_size=2, max_size=2), max_size=3),
    st.lists(st.one_of(NUMBERS, TEXT, st.none()), max_size=4),
    st.lists(TEXT, max_size=4),
    # integers and floats only, around and past the ranges of the datatypes (INT8 .. UINT64, FP16, FP32)
    st.lists(st.one_of(st.integers(-70000, 70000), st.integers(-(2**64), 2**64)), min_size=1, max_size=4),
    st.lists(
        st.one_of(st.floats(-1e5, 1e5), st.floats(-1e39, 1e39), st.floats(allow_nan=False)), min_size=1, max_size=4
    ),
    st.builds(deeply_nested, NUMBERS, st.integers(30, 40)),
    JSONISH,
)
SHAPE = st.one_of(
    st.lists(st.integers(0, 3), max_size=3),
    st.lists(st.integers(0, 3), max_size=3),
    st.lists(
        st.one_of(
            st.integers(0, 4),
            st.integers(-3, -1),
            st.integers(2**31, 2**63),
            st.just(2**64),
            st.floats(0, 4),
            st.booleans(),
            TEXT,
        ),
        max_size=4,
    ),
    JSONISH,
)
JUNK_SIZES = st.one_of(st.integers(-3, -1), st.integers(2**62, 2**66), st.floats(0, 40), st.booleans(), TEXT, st.none())


@st.composite
def binary_chunks(draw, datatype):
    """Bytes for one binary input: whole elements of its datatype, a ragged byte count, or BYTES elements."""
    itemsize = V2_TO_NUMPY[datatype].itemsize if datatype in V2_TO_NUMPY and datatype != "BYTES" else 1
    return draw(
        st.one_of(
            st.integers(0, 4).flatmap(lambda n: st.binary(min_size=n * itemsize, max_size=n * itemsize)),
            st.binary(max_size=12),
            BYTES_ELEMENTS,
        )
    )


# BYTES elements as sent: each a 4-byte little-endian length (right, short, or far past the end) then bytes,
# and maybe 1..3 bytes of a length cut short at the end.
BYTES_ELEMENTS = st.tuples(
    st.lists(st.tuples(st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1)), st.binary(max_size=6)), max_size=4),
    st.one_of(st.just(b""), st.binary(min_size=1, max_size=3)),
).map(lambda parts: b"".join(struct.pack("<I", n) + b for n, b in parts[0]) + parts[1])


def one_in(draw, n: int) -> bool:
    """True about one time in n. The rare case is the largest integer: hypothesis favours the smallest
    (the simplest) choices, so `== 0` would come up far more often than one time in n."""
    return draw(st.integers(1, n)) == n


def rarely(draw, usual, unusual):
    """A value of `usual`, or about one time in eight of `unusual` (one_of would spend half the examples on
    the unusual branch, most of them stopped by the decoder's first check)."""
    return draw(unusual if one_in(draw, 8) else usual)


@st.composite
def almost_valid_input(draw):
    """(input, its binary chunk): mostly right (a name, a served datatype, a shape) so the decoder gets past
    its first checks, with data or binary_data_size (the chunk's size or any other value), both or neither,
    and now and then any field wrong or missing."""
    entry = {
        "name": rarely(draw, st.sampled_from(["x", "y", "z"]), JSON_SCALARS),
        "datatype": rarely(draw, st.sampled_from(DATATYPES), st.one_of(TEXT, JSON_SCALARS)),
        "shape": rarely(draw, st.lists(st.integers(0, 3), max_size=3), SHAPE),
    }
    mode = draw(st.sampled_from(["json", "binary", "json", "binary", "both", "neither"]))
    chunk = b""
    if mode in ("json", "both"):
        entry["data"] = draw(DATA)
    if mode in ("binary", "both"):
        chunk = draw(binary_chunks(entry["datatype"]))
        size = draw(st.one_of(st.just(len(chunk)), st.just(len(chunk)), st.integers(0, 40), JUNK_SIZES))
        entry["parameters"] = {"binary_data_size": size}
    elif draw(st.booleans()):
        entry["parameters"] = draw(JSONISH)
    if one_in(draw, 16):
        del entry[draw(st.sampled_from(["name", "datatype", "shape"]))]
    return entry, chunk


@st.composite
def almost_valid_bodies(draw):
    """(body, header_length): a JSON header of almost-valid inputs (or of anything), their binary data and
    maybe bytes no input claims, with an Inference-Header-Content-Length that is mostly right, sometimes off
    by a little, or absent."""
    pairs = draw(st.lists(almost_valid_input(), min_size=1, max_size=3))
    document = {"inputs": rarely(draw, st.just([entry for entry, _ in pairs]), st.one_of(st.just([]), JSONISH))}
    for key, values in (
        (
            "outputs",
            st.one_of(st.lists(st.fixed_dictionaries({"name": TEXT, "parameters": JSONISH}), max_size=2), JSONISH),
        ),
        ("id", JSON_SCALARS),
        ("parameters", JSONISH),
    ):
        if one_in(draw, 4):
            document[key] = draw(values)
    # The standard library writes what orjson refuses to (integers past 64 bits, NaN, Infinity): the decoder
    # must refuse those cleanly too.
    header = json.dumps(document).encode()
    tail = b"".join(chunk for _, chunk in pairs) + draw(st.one_of(st.just(b""), st.just(b""), st.binary(max_size=8)))
    how = draw(st.sampled_from(["right", "right", "right", "off", "absent"]))
    if how == "absent":
        return header, None
    if how == "off":
        return header + tail, draw(st.integers(len(header) - 3, len(header) + 3))
    return header + tail, len(header)


@bounded(300)
@given(case=almost_valid_bodies())
# Regression: a number past the FP16/FP32 range made numpy warn from inside the decoder (see pytestmark).
@example(case=(b'{"inputs": [{"name": "x", "datatype": "FP16", "shape": [1], "data": [1e300]}]}', None))
@example(
    case=(b'{"inputs": [{"name": "x", "datatype": "UINT64", "shape": [1], "data": [18446744073709551616]}]}', None)
)
@example(case=(b'{"inputs": [{"name": "x", "datatype": "INT8", "shape": [2], "data": [[1], [[2]]]}]}', None))
@example(case=(b'{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [2], "data": [1, 300]}]}', None))
@example(
    case=(
        b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 6}}]}\x00' * 6,
        100,
    )
)
def test_almost_valid_requests_are_decoded_or_refused_with_typed_errors(case):
    request = decodes_or_refuses(decode_request, *case)
    if request is not None:
        assert_well_formed(request, *case)


@st.composite
def bytes_elements(draw):
    """(binary data, its elements, whether it is well formed): BYTES elements each with its 4-byte
    little-endian length, now and then a length that is short or far past the end, or 1..3 bytes of a
    length cut short at the end."""
    items = draw(st.lists(st.binary(max_size=6), max_size=4))
    lengths = [
        rarely(draw, st.just(len(item)), st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1))) for item in items
    ]
    tail = rarely(draw, st.just(b""), st.binary(min_size=1, max_size=3))
    chunk = b"".join(struct.pack("<I", n) + item for n, item in zip(lengths, items)) + tail
    return chunk, items, lengths == [len(item) for item in items] and not tail


@bounded(150)
@given(case=bytes_elements())
@example(case=(b"\x02\x00", [], False))  # a length prefix cut short
@example(case=(b"\x09\x00\x00\x00abc", [b"abc"], False))  # an element running past the end
def test_binary_bytes_elements_are_split_exactly_or_refused(case):
    """BYTES binary data, in the REST binary extension and in gRPC raw contents: well-formed elements come
    back exactly; bad lengths are a core error, never struct's or an index error."""
    chunk, items, well_formed = case
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "BYTES",
                    "shape": [len(items)],
                    "parameters": {"binary_data_size": len(chunk)},
                }
            ]
        }
    )
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="BYTES", shape=[len(items)])
    message.raw_input_contents.append(chunk)
    for request in (
        decodes_or_refuses(decode_request, header + chunk, len(header)),
        decodes_or_refuses(grpc_codec.decode_infer_request, message),
    ):
        if well_formed:
            assert request.inputs[0].data.tolist() == items
        elif request is not None:  # lengths that happen to split the data another way
            assert spec_raw(request.inputs[0].data, "BYTES") == chunk


@pytest.mark.parametrize("datatype", ["UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"])
@bounded(30)
@given(data=st.data())
def test_json_integers_are_kept_exactly_inside_the_datatype_and_refused_outside(datatype, data):
    info = np.iinfo(V2_TO_NUMPY[datatype])
    near = st.integers(info.min - 300, info.min + 300) | st.integers(info.max - 300, info.max + 300)
    values = data.draw(st.lists(near | st.integers(-(2**66), 2**66), min_size=1, max_size=5))
    # json.dumps writes integers of any size; orjson, the decoder's parser, reads those past 64 bits as floats
    body = json.dumps({"inputs": [{"name": "x", "datatype": datatype, "shape": [len(values)], "data": values}]})
    if all(info.min <= v <= info.max for v in values):
        assert decode_request(body.encode()).inputs[0].data.tolist() == values
    else:
        with pytest.raises(InvalidInput, match=f"{datatype} range|must be integers"):
            decode_request(body.encode())


@pytest.mark.parametrize("datatype", ["FP16", "FP32", "FP64"])
@bounded(30)
@given(
    values=st.lists(
        st.floats(-1e5, 1e5) | st.floats(-1e39, 1e39) | st.floats(allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=5,
    )
)
@example(values=[1e300])  # regression: the decoder let numpy warn about the overflow (see pytestmark)
def test_json_floats_are_rounded_inside_the_datatype_and_refused_outside(datatype, values):
    with np.errstate(over="ignore"):  # the overflow to infinity is what this test looks for
        expected = np.array(values).astype(V2_TO_NUMPY[datatype])
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": datatype, "shape": [len(values)], "data": values}]})
    if np.isfinite(expected).all():
        assert_same(decode_request(body).inputs[0].data, expected, datatype)
    else:
        with pytest.raises(InvalidInput, match=f"beyond the {datatype} range"):
            decode_request(body)


@bounded(100)
@given(document=JSONISH)
def test_arbitrary_json_documents_are_refused_with_typed_errors(document):
    body = json.dumps(document).encode()
    request = decodes_or_refuses(decode_request, body, None)
    if request is not None:
        assert_well_formed(request, body, None)


@pytest.mark.parametrize("depth", [31, 32, 33, 1023, 1024, 1025, 5000])
def test_data_nested_past_numpy_and_parser_limits_is_refused(depth):
    """Data nested around numpy's 32 dimensions and the JSON parser's depth limit, written as text (a JSON writer
    would recurse): taken while numpy can hold it, refused as invalid input beyond."""
    data = "[" * depth + "1" + "]" * depth
    body = f'{{"inputs": [{{"name": "x", "datatype": "INT32", "shape": [1], "data": {data}}}]}}'.encode()
    request = decodes_or_refuses(decode_request, body, None)
    if depth <= 32:
        assert decoded(request.inputs[0]).tolist() == [1]
    else:
        assert request is None


# ---- invalid gRPC input: typed errors only --------------------------------------------------------

# Values each typed contents field can hold on the wire (protobuf refuses others before the codec sees them).
FIELD_VALUES = {
    "bool_contents": st.booleans(),
    "int_contents": st.integers(-(2**31), 2**31 - 1),
    "int64_contents": st.integers(-(2**63), 2**63 - 1),
    "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1),
    "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(),
    "bytes_contents": st.binary(max_size=4),
}
GRPC_DIMS = st.one_of(st.integers(-3, -1), st.integers(-(2**63), 2**63 - 1))


def _fill_parameters(target, draw):
    for key in draw(st.lists(st.text(max_size=3), max_size=2)):
        choice = draw(st.sampled_from(["bool_param", "int64_param", "string_param", "double_param", "uint64_param"]))
        value = {
            "bool_param": st.booleans(),
            "int64_param": st.integers(-(2**63), 2**63 - 1),
            "string_param": st.text(max_size=3),
            "double_param": st.floats(),
            "uint64_param": st.integers(0, 2**64 - 1),
        }[choice]
        setattr(target[key], choice, draw(value))


@st.composite
def malformed_infer_requests(draw):
    """ModelInferRequests a client could send, mostly right so the decoder gets past its first checks, each
    part now and then wrong: unknown datatypes, any int64 shape (negative, huge, a product far past memory),
    typed values in any fields (the right one with the right count or not, wrong ones, several), raw contents
    of the right size or not and of any count, BYTES raw contents with lengths past the end."""
    message = pb.ModelInferRequest(model_name="m", id=draw(st.text(max_size=3)))
    _fill_parameters(message.parameters, draw)
    count = draw(st.integers(1, 3)) if not one_in(draw, 8) else 0
    raw = draw(st.booleans())
    for _ in range(count):
        datatype = rarely(draw, st.sampled_from(DATATYPES), st.text(max_size=5))
        shape = rarely(draw, st.lists(st.integers(0, 3), max_size=3), st.lists(GRPC_DIMS, max_size=4))
        entry = message.inputs.add(name=draw(st.text(max_size=3)), datatype=datatype, shape=shape)
        _fill_parameters(entry.parameters, draw)
        # the element count of a small shape (negative dimensions included: [-1, -1] claims one element)
        elements = math.prod(shape) if 0 <= math.prod(shape) <= 27 else 0
        fields = draw(st.lists(st.sampled_from(list(FIELD_VALUES)), max_size=2, unique=True)) if one_in(draw, 4) else []
        if datatype in TYPED_FIELDS and not raw:
            fields.append(TYPED_FIELDS[datatype])
        for field in dict.fromkeys(fields):
            size = rarely(draw, st.just(elements), st.integers(0, 6))
            getattr(entry.contents, field).extend(draw(st.lists(FIELD_VALUES[field], min_size=size, max_size=size)))
        if raw:
            itemsize = V2_TO_NUMPY[datatype].itemsize if datatype in V2_TO_NUMPY and datatype != "BYTES" else 1
            right = st.binary(min_size=elements * itemsize, max_size=elements * itemsize)
            message.raw_input_contents.append(
                rarely(
                    draw,
                    right if datatype != "BYTES" else BYTES_ELEMENTS,
                    st.one_of(st.binary(max_size=24), BYTES_ELEMENTS),
                )
            )
    if one_in(draw, 8):  # raw entries that do not match the inputs one to one
        message.raw_input_contents.extend(draw(st.lists(st.binary(max_size=8), max_size=2)))
    for _ in range(draw(st.integers(0, 2))):
        _fill_parameters(message.outputs.add(name=draw(st.text(max_size=3))).parameters, draw)
    return message


def _typed_request(datatype: str, shape: list[int], values) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m")
    entry = message.inputs.add(name="x", datatype=datatype, shape=shape)
    getattr(entry.contents, TYPED_FIELDS[datatype]).extend(values)
    return message


@bounded(300)
@given(message=malformed_infer_requests())
@example(message=_typed_request("UINT8", [2], [1, 300]))
@example(message=_typed_request("INT32", [2**62, 2**62], [1]))
@example(message=_typed_request("INT32", [-1, -1], [1]))
def test_malformed_grpc_requests_are_refused_with_typed_errors(message):
    message = _on_the_wire(message)
    request = decodes_or_refuses(grpc_codec.decode_infer_request, message)
    if request is not None:
        for index, (entry, tensor) in enumerate(zip(message.inputs, request.inputs, strict=True)):
            assert tensor.data.dtype == V2_TO_NUMPY[tensor.datatype]
            assert all(d >= 0 for d in tensor.shape) and tensor.data.size == math.prod(tensor.shape)
            if message.raw_input_contents:
                assert spec_raw(tensor.data, tensor.datatype) == message.raw_input_contents[index]
            else:
                assert_same_values(tensor, list(getattr(entry.contents, TYPED_FIELDS[tensor.datatype])))


def _valid_wire_request() -> bytes:
    message = pb.ModelInferRequest(model_name="m", id="r")
    message.inputs.add(name="x", datatype="FP32", shape=[2])
    message.inputs.add(name="s", datatype="BYTES", shape=[1])
    message.raw_input_contents.extend([struct.pack("<2f", 1.0, 2.0), b"\x01\x00\x00\x00a"])
    message.outputs.add(name="y").parameters["binary_data"].bool_param = True
    return message.SerializeToString()


VALID_WIRE = _valid_wire_request()


@bounded(200)
@given(
    wire=st.one_of(
        st.binary(max_size=80),
        # a valid message cut short, or with bytes overwritten: lengths and tags that no longer agree
        st.integers(0, len(VALID_WIRE)).map(lambda n: VALID_WIRE[:n]),
        st.tuples(st.integers(0, len(VALID_WIRE) - 1), st.binary(min_size=1, max_size=3)).map(
            lambda edit: VALID_WIRE[: edit[0]] + edit[1] + VALID_WIRE[edit[0] + len(edit[1]) :]
        ),
    )
)
def test_grpc_wire_bytes_are_refused_by_protobuf_or_with_typed_errors(wire):
    """Bytes protobuf cannot parse never reach the codec (grpcio's deserializer refuses them); whatever it
    parses does, and the codec takes it or raises a core error."""
    try:
        message = pb.ModelInferRequest.FromString(wire)
    except DecodeError:
        return
    decodes_or_refuses(grpc_codec.decode_infer_request, message)
