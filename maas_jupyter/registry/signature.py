"""Reading an ONNX model's input/output signature in Open Inference Protocol terms."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from ..errors import InvalidInput

# ONNX element types -> V2 datatypes (those ONNX Runtime can serve).
ONNX_TO_V2: dict[int, str] = {
    TensorProto.BOOL: "BOOL",
    TensorProto.UINT8: "UINT8",
    TensorProto.UINT16: "UINT16",
    TensorProto.UINT32: "UINT32",
    TensorProto.UINT64: "UINT64",
    TensorProto.INT8: "INT8",
    TensorProto.INT16: "INT16",
    TensorProto.INT32: "INT32",
    TensorProto.INT64: "INT64",
    TensorProto.FLOAT16: "FP16",
    TensorProto.FLOAT: "FP32",
    TensorProto.DOUBLE: "FP64",
    TensorProto.STRING: "BYTES",
}


def _tensors(graph: onnx.GraphProto):
    """Every tensor a graph holds: initializers, constants in node attributes, and those of subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        yield from _attribute_tensors(node.attribute)


def _attribute_tensors(attributes):
    for attribute in attributes:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        for sparse in ([attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []) + list(
            attribute.sparse_tensors
        ):
            yield from (sparse.values, sparse.indices)
        if attribute.HasField("g"):
            yield from _tensors(attribute.g)
        for graph in attribute.graphs:
            yield from _tensors(graph)


def refuse_external_data(model: onnx.ModelProto) -> None:
    """InvalidInput if any tensor's data lives in a file beside the model. ONNX Runtime resolves such a
    path against the loading process's working directory, so a model could make the server read (and
    serve back) any file it can open. The answer says nothing of whether the named file exists."""
    functions = (node.attribute for function in model.functions for node in function.node)
    tensors = list(_tensors(model.graph)) + [t for attrs in functions for t in _attribute_tensors(attrs)]
    external = [t.name or "(unnamed)" for t in tensors if t.data_location == TensorProto.EXTERNAL]
    if external:
        shown = ", ".join(repr(name) for name in external[:3]) + (" …" if len(external) > 3 else "")
        raise InvalidInput(
            f"the ONNX model keeps tensor data in external files ({len(external)} tensors: {shown}); "
            f"only self-contained models are taken: save it with all tensors inside the file "
            f"(onnx.save_model(model, path, save_as_external_data=False))"
        )


def parse_onnx(data: bytes) -> onnx.ModelProto:
    """Parse and check ONNX bytes; InvalidInput with the reason if they are not a valid model."""
    if not data:
        raise InvalidInput("the ONNX file is empty")
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise InvalidInput(f"not an ONNX model: {exc}") from None
    if not model.graph.node and not model.graph.output:
        raise InvalidInput("not an ONNX model: the file has no graph")
    refuse_external_data(model)  # before the checker, whose errors would tell whether a path exists
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise InvalidInput(f"the ONNX model does not pass onnx.checker: {exc}") from None
    return model


def _tensor_spec(value_info: onnx.ValueInfoProto) -> dict:
    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type"):
        raise InvalidInput(f"{value_info.name!r} is not a tensor; only tensor inputs and outputs can be served")
    datatype = ONNX_TO_V2.get(int(tensor_type.elem_type))
    if datatype is None:
        name = TensorProto.DataType.Name(tensor_type.elem_type)
        raise InvalidInput(f"{value_info.name!r} has element type {name}, which cannot be served")
    shape = []
    for dim in tensor_type.shape.dim:
        # A symbolic or missing dimension is dynamic: -1, as the V2 protocol writes it.
        shape.append(dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else -1)
    return {"name": value_info.name, "datatype": datatype, "shape": shape}


def signature_of(model: onnx.ModelProto) -> dict:
    """{"inputs": [...], "outputs": [...]} with name, datatype and shape (-1 for dynamic dims)."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [_tensor_spec(vi) for vi in model.graph.input if vi.name not in initializers]
    outputs = [_tensor_spec(vi) for vi in model.graph.output]
    opsets = {op.domain or "ai.onnx": op.version for op in model.opset_import}
    return {"inputs": inputs, "outputs": outputs, "opset": opsets}
