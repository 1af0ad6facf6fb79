"""Drives a running `maas serve` with the official Triton HTTP client; run in its own process because
tritonclient.http (gevent) breaks tritonclient.grpc calls made later in the same process.

Usage: python tritonclient_http_scenario.py HOST:PORT TOKEN. Exits 0 when every check passes."""

import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

VALUES = {
    "BOOL": np.array([[True, False], [False, True]]),
    "UINT8": np.array([[0, 255], [1, 2]], dtype=np.uint8),
    "UINT16": np.array([[0, 65535], [1, 2]], dtype=np.uint16),
    "UINT32": np.array([[0, 2**32 - 1], [1, 2]], dtype=np.uint32),
    "UINT64": np.array([[0, 2**64 - 1], [1, 2]], dtype=np.uint64),
    "INT8": np.array([[-128, 127], [0, 1]], dtype=np.int8),
    "INT16": np.array([[-32768, 32767], [0, 1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 2**31 - 1], [0, 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 2**63 - 1], [0, 1]], dtype=np.int64),
    "FP16": np.array([[0.5, -2.0], [65504.0, 0.0]], dtype=np.float16),
    "FP32": np.array([[0.25, -1.5], [3.0, 1e30]], dtype=np.float32),
    "FP64": np.array([[1e-300, -2.5], [3.0, 1e300]], dtype=np.float64),
    "BYTES": np.array([[b"a", b""], ["\u00e9".encode(), b"x y"]], dtype=object),
}


def main(url: str, token: str) -> None:
    def headers():
        return {"Authorization": f"Bearer {token}"}  # a fresh dict per call: the client writes into it

    client = httpclient.InferenceServerClient(url)
    assert client.is_server_live(headers=headers())
    assert client.is_server_ready(headers=headers())
    assert client.get_server_metadata(headers=headers())["name"] == "maas-jupyter"
    meta = client.get_model_metadata("ep", headers=headers())
    assert meta["inputs"][0]["name"] == "X" and meta["platform"] == "onnxruntime_onnx"
    assert client.is_model_ready("ep", headers=headers())
    assert client.is_model_ready("ep", "1", headers=headers())
    assert not client.is_model_ready("frail", headers=headers())

    for datatype, value in VALUES.items():
        name = "id-" + datatype.lower()
        for binary in (True, False):
            if datatype == "FP16" and not binary:
                continue  # the client itself sends FP16 only as binary
            tensor = httpclient.InferInput("IN", list(value.shape), datatype)
            tensor.set_data_from_numpy(value, binary_data=binary)
            result = client.infer(
                name, [tensor], outputs=[httpclient.InferRequestedOutput("OUT", binary_data=binary)], headers=headers()
            )
            got = result.as_numpy("OUT")
            if datatype == "BYTES":
                got = np.array(
                    [v if isinstance(v, bytes) else str(v).encode() for v in got.reshape(-1)], dtype=object
                ).reshape(value.shape)
            assert got.shape == value.shape, (datatype, binary, got.shape)
            assert (got == value).all(), (datatype, binary, got, value)
            assert result.get_response()["model_name"] == name

    x = np.ones((3, 4), dtype=np.float32)
    tensor = httpclient.InferInput("X", [3, 4], "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer("ep", [tensor], model_version="1", request_id="r1", headers=headers())
    assert result.as_numpy("Y").shape == (3, 3) and result.as_numpy("label").shape == (3,)
    assert result.get_response()["id"] == "r1"

    bad = httpclient.InferInput("X", [3, 5], "FP32")
    bad.set_data_from_numpy(np.ones((3, 5), dtype=np.float32))
    try:
        client.infer("ep", [bad], headers=headers())
        raise AssertionError("a wrong shape was accepted")
    except InferenceServerException as exc:
        assert "shape [3, 5]" in exc.message(), exc.message()
    try:
        client.infer("nothing", [tensor], headers=headers())
        raise AssertionError("an unknown model was accepted")
    except InferenceServerException as exc:
        assert "no endpoint named" in exc.message()

    index = client.get_model_repository_index(headers=headers())
    assert {"ep", "frail"} <= {entry["name"] for entry in index}
    client.unload_model("two", headers=headers())
    assert not client.is_model_ready("two", headers=headers())
    client.load_model("two", headers=headers())
    assert client.is_model_ready("two", headers=headers())
    client.close()
    print("tritonclient.http: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
