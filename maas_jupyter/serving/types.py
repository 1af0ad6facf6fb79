"""Transport-free types of the Open Inference Protocol (KServe V2): what REST and gRPC decode into."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# V2 datatype <-> numpy dtype. BYTES elements are Python `bytes` in an object array.
V2_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
NUMPY_TO_V2: dict[np.dtype, str] = {dtype: name for name, dtype in V2_TO_NUMPY.items()}
# ONNX Runtime hands back string outputs as numpy unicode/bytes arrays; both are BYTES on the wire.
NUMPY_KIND_BYTES = ("O", "U", "S")


def numpy_dtype(datatype: str) -> np.dtype:
    """The numpy dtype of a V2 datatype; KeyError for unknown names (callers turn it into InvalidInput)."""
    return V2_TO_NUMPY[datatype]


def v2_datatype(dtype: np.dtype) -> str:
    """The V2 datatype of a numpy dtype (unicode and bytes arrays are BYTES)."""
    dtype = np.dtype(dtype)
    if dtype.kind in NUMPY_KIND_BYTES:
        return "BYTES"
    return NUMPY_TO_V2[dtype]


@dataclass
class Tensor:
    """One named tensor. `data` holds shape-product elements (the data plane reshapes it to `shape`);
    numeric tensors have the dtype of `datatype`, BYTES tensors are object arrays of `bytes`."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray
    parameters: dict = field(default_factory=dict)


@dataclass
class RequestedOutput:
    """An output the client asks for (parameters such as {"binary_data": true} are transport hints)."""

    name: str
    parameters: dict = field(default_factory=dict)


@dataclass
class InferenceRequest:
    """A decoded infer request; an empty `outputs` list means every output of the model."""

    inputs: list[Tensor]
    outputs: list[RequestedOutput] = field(default_factory=list)
    id: str | None = None
    parameters: dict = field(default_factory=dict)


@dataclass
class InferenceResponse:
    """The data plane's answer; `model_name` is the endpoint, `model_version` the version that ran."""

    model_name: str
    model_version: str
    outputs: list[Tensor]
    id: str | None = None
    parameters: dict = field(default_factory=dict)
