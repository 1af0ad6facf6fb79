"""Open Inference Protocol protobuf messages <-> the transport-free types of serving/types.py."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .proto import grpc_predict_v2_pb2 as pb
from .types import InferenceRequest, InferenceResponse, RequestedOutput, Tensor

# V2 datatype -> little-endian numpy dtype of its raw bytes (BYTES is length-prefixed, see below).
RAW_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

# V2 datatype -> the InferTensorContents field that carries it. FP16 has none in the protocol:
# half floats only travel as raw bytes.
CONTENTS_FIELDS: dict[str, str] = {
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

# Datatypes whose typed field is wider than the datatype: values must be range-checked, or a 300 sent
# as UINT8 would silently wrap to 44.
_NARROW_INTS = {"UINT8", "UINT16", "INT8", "INT16"}

_LENGTH_PREFIX = struct.Struct("<I")


def element_count(shape: list[int]) -> int:
    """Number of elements of a tensor of this shape."""
    count = 1
    for dim in shape:
        count *= dim
    return count


def _checked_shape(name: str, shape) -> list[int]:
    shape = list(shape)
    if any(dim < 0 for dim in shape):
        raise InvalidInput(f"input {name!r} has a negative dimension in its shape {shape}")
    return shape


def decode_bytes_elements(name: str, raw: bytes, count: int) -> np.ndarray:
    """Split BYTES raw contents (each element prefixed by its 4-byte little-endian length) into an object array."""
    elements = []
    offset, end = 0, len(raw)
    while offset < end:
        if offset + 4 > end:
            raise InvalidInput(f"input {name!r}: BYTES raw contents end inside a length prefix")
        (length,) = _LENGTH_PREFIX.unpack_from(raw, offset)
        offset += 4
        if offset + length > end:
            raise InvalidInput(
                f"input {name!r}: a BYTES element of {length} bytes runs past the end of the raw contents"
            )
        elements.append(raw[offset : offset + length])
        offset += length
    if len(elements) != count:
        raise InvalidInput(
            f"input {name!r}: the shape needs {count} BYTES elements, the raw contents hold {len(elements)}"
        )
    array = np.empty(count, dtype=object)
    array[:] = elements
    return array


def encode_bytes_elements(array: np.ndarray) -> bytes:
    """BYTES raw contents: every element as its 4-byte little-endian length then its bytes (str as UTF-8)."""
    parts = []
    for item in array.ravel():
        data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        parts.append(_LENGTH_PREFIX.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


# Decoders return flat arrays: types.Tensor holds shape-product elements and the data plane reshapes.
def _decode_raw(name: str, datatype: str, shape: list[int], raw: bytes) -> np.ndarray:
    count = element_count(shape)
    if datatype == "BYTES":
        return decode_bytes_elements(name, raw, count)
    dtype = RAW_DTYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(
            f"input {name!r}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes, "
            f"raw_input_contents holds {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype)


def _decode_contents(name: str, datatype: str, shape: list[int], contents: pb.InferTensorContents) -> np.ndarray:
    count = element_count(shape)
    field = CONTENTS_FIELDS.get(datatype)
    if field is None:
        raise InvalidInput(f"input {name!r}: {datatype} has no typed contents field; send it in raw_input_contents")
    values = getattr(contents, field)
    if len(values) != count:
        others = [f.name for f, _ in contents.ListFields() if f.name != field]
        if others and not values:
            raise InvalidInput(
                f"input {name!r} is {datatype}, which goes in {field}; the request filled {', '.join(others)}"
            )
        raise InvalidInput(f"input {name!r}: shape {shape} needs {count} elements, {field} holds {len(values)}")
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array
    if datatype in _NARROW_INTS and count:
        wide = np.array(values, dtype=np.int64)
        info = np.iinfo(RAW_DTYPES[datatype])
        if wide.min() < info.min or wide.max() > info.max:
            raise InvalidInput(f"input {name!r}: a value is outside the range of {datatype} [{info.min}, {info.max}]")
        return wide.astype(RAW_DTYPES[datatype])
    # fromiter with a known count is about twice as fast as np.array over a protobuf repeated field.
    return np.fromiter(values, dtype=RAW_DTYPES[datatype], count=count)


def decode_parameters(parameters) -> dict[str, Any]:
    """A protobuf map<string, InferParameter> as a plain dict of Python values."""
    decoded = {}
    for key, value in parameters.items():
        choice = value.WhichOneof("parameter_choice")
        decoded[key] = getattr(value, choice) if choice else None
    return decoded


def encode_parameters(target, parameters: dict[str, Any] | None) -> None:
    """Fill a protobuf map<string, InferParameter> from a dict (bool, int, float, str values)."""
    for key, value in (parameters or {}).items():
        slot = target[key]
        if isinstance(value, bool):  # before int: bool is an int subclass
            slot.bool_param = value
        elif isinstance(value, (int, np.integer)):
            if value > 2**63 - 1:
                slot.uint64_param = int(value)
            else:
                slot.int64_param = int(value)
        elif isinstance(value, (float, np.floating)):
            slot.double_param = float(value)
        else:
            slot.string_param = str(value)


def decode_infer_request(message: pb.ModelInferRequest) -> InferenceRequest:
    """A ModelInferRequest as an InferenceRequest; InvalidInput with the reason if it is malformed."""
    raw_contents = message.raw_input_contents
    if raw_contents and len(raw_contents) != len(message.inputs):
        raise InvalidInput(
            f"the request has {len(message.inputs)} inputs but {len(raw_contents)} raw_input_contents; "
            "send one raw entry per input or none"
        )
    inputs = []
    for index, tensor in enumerate(message.inputs):
        name, datatype = tensor.name, tensor.datatype
        if datatype not in RAW_DTYPES and datatype != "BYTES":
            raise InvalidInput(
                f"input {name!r} has datatype {datatype!r}, which is not a V2 datatype this server serves"
            )
        shape = _checked_shape(name, tensor.shape)
        if raw_contents:
            if tensor.HasField("contents") and tensor.contents.ListFields():
                raise InvalidInput(f"input {name!r} has both contents and raw_input_contents; send one of them")
            data = _decode_raw(name, datatype, shape, raw_contents[index])
        else:
            data = _decode_contents(name, datatype, shape, tensor.contents)
        inputs.append(
            Tensor(
                name=name, datatype=datatype, shape=shape, data=data, parameters=decode_parameters(tensor.parameters)
            )
        )
    outputs = [
        RequestedOutput(name=output.name, parameters=decode_parameters(output.parameters)) for output in message.outputs
    ]
    return InferenceRequest(
        inputs=inputs, outputs=outputs, id=message.id or None, parameters=decode_parameters(message.parameters)
    )


def request_wants_raw_outputs(message: pb.ModelInferRequest) -> bool:
    """Whether to answer in raw_output_contents: Triton does so when the request sent raw inputs."""
    return bool(message.raw_input_contents)


def _output_array(tensor: Tensor) -> np.ndarray:
    return tensor.data if isinstance(tensor.data, np.ndarray) else np.asarray(tensor.data)


def encode_infer_response(response: InferenceResponse, *, raw: bool) -> pb.ModelInferResponse:
    """An InferenceResponse as a ModelInferResponse, outputs raw (Triton style) or in typed contents."""
    message = pb.ModelInferResponse(
        model_name=response.model_name, model_version=str(response.model_version or ""), id=response.id or ""
    )
    encode_parameters(message.parameters, response.parameters)
    # FP16 has no typed field; raw outputs are all-or-nothing (one raw entry per output, in order).
    raw = raw or any(tensor.datatype == "FP16" for tensor in response.outputs)
    for tensor in response.outputs:
        array = _output_array(tensor)
        output = message.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
        encode_parameters(output.parameters, getattr(tensor, "parameters", None))
        if raw:
            if tensor.datatype == "BYTES":
                message.raw_output_contents.append(encode_bytes_elements(array))
            else:
                dtype = RAW_DTYPES[tensor.datatype]
                message.raw_output_contents.append(np.ascontiguousarray(array, dtype=dtype).tobytes())
        elif tensor.datatype == "BYTES":
            output.contents.bytes_contents.extend(
                item.encode("utf-8") if isinstance(item, str) else bytes(item) for item in array.ravel()
            )
        else:
            # tolist() gives Python scalars, which protobuf's repeated fields take far faster than numpy ones.
            getattr(output.contents, CONTENTS_FIELDS[tensor.datatype]).extend(array.ravel().tolist())
    return message


def encode_infer_request(
    request: InferenceRequest, *, model_name: str, model_version: str = "", raw: bool = True
) -> pb.ModelInferRequest:
    """An InferenceRequest as a ModelInferRequest (the client side, for tests and benchmarks)."""
    message = pb.ModelInferRequest(model_name=model_name, model_version=model_version, id=request.id or "")
    encode_parameters(message.parameters, request.parameters)
    for tensor in request.inputs:
        array = _output_array(tensor)
        entry = message.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
        encode_parameters(entry.parameters, tensor.parameters)
        if raw:
            if tensor.datatype == "BYTES":
                message.raw_input_contents.append(encode_bytes_elements(array))
            else:
                message.raw_input_contents.append(
                    np.ascontiguousarray(array, dtype=RAW_DTYPES[tensor.datatype]).tobytes()
                )
        elif tensor.datatype == "BYTES":
            entry.contents.bytes_contents.extend(
                item.encode("utf-8") if isinstance(item, str) else bytes(item) for item in array.ravel()
            )
        else:
            getattr(entry.contents, CONTENTS_FIELDS[tensor.datatype]).extend(array.ravel().tolist())
    for output in request.outputs or ():
        encode_parameters(message.outputs.add(name=output.name).parameters, output.parameters)
    return message


def decode_infer_response(message: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    """Output name -> numpy array of a ModelInferResponse, raw or typed (the client side)."""
    arrays = {}
    for index, output in enumerate(message.outputs):
        shape = list(output.shape)
        if message.raw_output_contents:
            flat = _decode_raw(output.name, output.datatype, shape, message.raw_output_contents[index])
        else:
            flat = _decode_contents(output.name, output.datatype, shape, output.contents)
        arrays[output.name] = flat.reshape(shape)
    return arrays
