"""V2 REST codec: JSON tensors (flat or nested data) and the binary tensor data extension <-> types.

Binary extension: the body starts with Inference-Header-Content-Length bytes of JSON; the inputs whose
parameters carry "binary_data_size" take their bytes from what follows, in order. Outputs asked for
with {"binary_data": true} (or the request parameter "binary_data_output": true) come back the same way.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidInput
from ..json_input import json_object
from .types import V2_TO_NUMPY, InferenceRequest, InferenceResponse, RequestedOutput, Tensor

# What numpy infers from JSON values, per target datatype: anything else is a wrong value.
_JSON_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}
_ORJSON_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def decode_request(body: bytes, header_length: int | None = None) -> InferenceRequest:
    """Decode a V2 infer body; InvalidInput with the reason for anything malformed."""
    if header_length is None:
        json_part, binary = body, memoryview(b"")
    else:
        if not 0 < header_length <= len(body):
            raise InvalidInput(f"Inference-Header-Content-Length is {header_length} but the body has {len(body)} bytes")
        json_part, binary = body[:header_length], memoryview(body)[header_length:]
    doc = json_object(json_part, "the request")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("the request needs a non-empty 'inputs' list")
    offset = 0
    inputs = []
    for position, raw in enumerate(raw_inputs):
        tensor, used = _decode_input(raw, position, binary, offset)
        inputs.append(tensor)
        offset += used
    if offset != len(binary):
        raise InvalidInput(f"the body has {len(binary) - offset} bytes of binary data that no input claims")
    outputs = [_decode_output(raw) for raw in _list(doc.get("outputs"), "outputs")]
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    return InferenceRequest(inputs, outputs, request_id, _params(doc.get("parameters"), "request"))


def _list(value, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"'{what}' must be a list")
    return value


def _params(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"the {what} 'parameters' must be an object")
    return value


def _decode_output(raw) -> RequestedOutput:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise InvalidInput("each requested output must be an object with a 'name'")
    return RequestedOutput(raw["name"], _params(raw.get("parameters"), f"output {raw['name']!r}"))


def _decode_input(raw, position: int, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"input #{position} must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"input #{position} needs a 'name'")
    datatype = raw.get("datatype")
    dtype = V2_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None or not isinstance(datatype, str):
        raise InvalidInput(f"input {name!r} has datatype {datatype!r}; use one of {', '.join(V2_TO_NUMPY)}")
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"input {name!r} needs a 'shape' list of non-negative integers")
    parameters = _params(raw.get("parameters"), f"input {name!r}")
    size = parameters.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0:
            raise InvalidInput(f"input {name!r}: binary_data_size must be a non-negative integer")
        if offset + size > len(binary):
            raise InvalidInput(f"input {name!r} claims {size} bytes of binary data; only {len(binary) - offset} remain")
        if "data" in raw:
            raise InvalidInput(f"input {name!r} has both 'data' and binary_data_size")
        chunk = binary[offset : offset + size]
        data = _bytes_from_binary(chunk, name) if datatype == "BYTES" else _numeric_from_binary(chunk, dtype, name)
        return Tensor(name, datatype, shape, data, parameters), size
    if "data" not in raw:
        raise InvalidInput(f"input {name!r} has no 'data' (nor binary_data_size)")
    data = _from_json(raw["data"], datatype, dtype, name)
    return Tensor(name, datatype, shape, data, parameters), 0


def _numeric_from_binary(chunk: memoryview, dtype: np.dtype, name: str) -> np.ndarray:
    if len(chunk) % dtype.itemsize:
        raise InvalidInput(
            f"input {name!r}: {len(chunk)} bytes is not a whole number of {dtype.itemsize}-byte elements"
        )
    array = np.frombuffer(chunk, dtype=dtype.newbyteorder("<"))
    if not array.flags.aligned:
        array = array.copy()  # the JSON header length decides alignment; ONNX Runtime wants aligned data
    return array


def _bytes_from_binary(chunk: memoryview, name: str) -> np.ndarray:
    # BYTES elements: a 4-byte little-endian length, then that many bytes; repeated.
    items, position, end = [], 0, len(chunk)
    while position < end:
        if position + 4 > end:
            raise InvalidInput(f"input {name!r}: truncated BYTES element length")
        (length,) = struct.unpack_from("<I", chunk, position)
        position += 4
        if position + length > end:
            raise InvalidInput(f"input {name!r}: a BYTES element claims {length} bytes past the end of its data")
        items.append(bytes(chunk[position : position + length]))
        position += length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _from_json(data, datatype: str, dtype: np.dtype, name: str) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        flat = _flatten(data)
        if not all(isinstance(v, str) for v in flat):
            raise InvalidInput(f"input {name!r}: BYTES data must be strings")
        array = np.empty(len(flat), dtype=object)
        array[:] = [v.encode("utf-8") for v in flat]
        return array
    try:
        array = np.array(data)
    except (ValueError, TypeError) as exc:  # ragged nesting
        raise InvalidInput(f"input {name!r}: data is not a regular array: {exc}") from None
    if array.size == 0:
        return array.astype(dtype)
    allowed = _JSON_KINDS[dtype.kind]
    if dtype.kind in "iu" and array.dtype.kind in "fO":
        array = _big_integers(data, datatype, dtype, name)  # numpy falls back to float/object past int64
    if array.dtype.kind not in allowed:
        raise InvalidInput(f"input {name!r}: {datatype} data must be {_kind_words(dtype.kind)}")
    if dtype.kind in "iu" and array.dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(f"input {name!r}: values outside the {datatype} range [{info.min}, {info.max}]")
    # A number past the FP16/FP32 range casts to infinity, refused just below; without errstate numpy would
    # also warn about the overflow (noise in the server's log, an exception under `python -W error`).
    with np.errstate(over="ignore"):
        array = array.astype(dtype, copy=False)
    if dtype.kind == "f" and not np.isfinite(array).all():
        # JSON has no NaN or infinity: a non-finite value here is a number too large for the datatype.
        raise InvalidInput(f"input {name!r}: values beyond the {datatype} range (largest {np.finfo(dtype).max:.4g})")
    return array


def _big_integers(data, datatype: str, dtype: np.dtype, name: str) -> np.ndarray:
    flat = _flatten(data)
    if not all(type(v) is int for v in flat):
        raise InvalidInput(f"input {name!r}: {datatype} data must be integers")
    info = np.iinfo(dtype)
    if min(flat) < info.min or max(flat) > info.max:
        raise InvalidInput(f"input {name!r}: values outside the {datatype} range [{info.min}, {info.max}]")
    return np.array(flat, dtype=dtype)


def _kind_words(kind: str) -> str:
    return {"b": "true/false", "u": "integers", "i": "integers", "f": "numbers"}[kind]


def _flatten(data) -> list:
    out = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            out.append(value)
        else:
            stack.pop()
    return out


# ---- responses ------------------------------------------------------------------------------------


def encode_response(response: InferenceResponse, request: InferenceRequest | None = None) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header length for
    Inference-Header-Content-Length (None for a plain JSON body)."""
    binary_names = _binary_outputs(request)
    outputs, chunks = [], []
    for tensor in response.outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
        data = tensor.data
        if binary_names is True or (binary_names and tensor.name in binary_names):
            raw = _bytes_to_binary(data) if tensor.datatype == "BYTES" else np.ascontiguousarray(data).tobytes()
            entry["parameters"] = {**tensor.parameters, "binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            if tensor.parameters:
                entry["parameters"] = tensor.parameters
            if data.dtype.kind == "f" and not np.isfinite(data).all():
                raise InvalidInput(_NOT_IN_JSON.format(name=tensor.name))
            entry["data"] = (
                _bytes_to_json(data) if tensor.datatype == "BYTES" else np.ascontiguousarray(data).reshape(-1)
            )
        outputs.append(entry)
    doc: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id is not None:
        doc["id"] = response.id
    if response.parameters:
        doc["parameters"] = response.parameters
    header = orjson.dumps(doc, option=_ORJSON_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


# JSON has no NaN or infinity (a JSON encoder would write null, which reads as a missing value).
_NOT_IN_JSON = (
    "output {name!r} holds NaN or infinite values, which V2 JSON cannot carry: ask for it in binary "
    "(parameters binary_data_output: true) or over gRPC"
)


def _binary_outputs(request: InferenceRequest | None):
    if request is None:
        return set()
    if request.parameters.get("binary_data_output") is True:
        return True
    return {o.name for o in request.outputs if o.parameters.get("binary_data") is True}


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(value).encode("utf-8")


def _bytes_to_binary(data: np.ndarray) -> bytes:
    parts = []
    for value in data.reshape(-1):
        raw = _as_bytes(value)
        parts.append(struct.pack("<I", len(raw)))
        parts.append(raw)
    return b"".join(parts)


def _bytes_to_json(data: np.ndarray) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in data.reshape(-1)]


def encode_error(message: str) -> bytes:
    """The V2 error body."""
    return orjson.dumps({"error": message})
