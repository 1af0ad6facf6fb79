"""Run the official tritonclient.grpc client against a gRPC address and print what it saw as one JSON object.

Kept out of the pytest process on purpose: once tritonclient.http has made requests in a process, later
tritonclient.grpc calls there fail inside the client (TypeError: Expected str, not int). The test that starts the
server runs this file in a subprocess and asserts on its output.

    python tritonclient_grpc_scenarios.py ADDRESS TOKEN MODEL INPUT_JSON
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def _headers(token: str) -> dict:
    # tritonclient writes into the dict it is given: a fresh one per call.
    return {"authorization": f"Bearer {token}"}


def _failure(call) -> dict:
    try:
        call()
    except InferenceServerException as error:
        return {"status": str(error.status()), "message": error.message()}
    return {"status": "OK", "message": ""}


def run(address: str, token: str, model: str, x: np.ndarray) -> dict:
    """Every scenario the test checks; plain JSON values only."""
    client = grpcclient.InferenceServerClient(url=address)
    seen: dict = {}
    seen["live"] = client.is_server_live(headers=_headers(token))
    seen["ready"] = client.is_server_ready(headers=_headers(token))
    seen["model_ready"] = client.is_model_ready(model, headers=_headers(token))
    seen["server_metadata"] = client.get_server_metadata(headers=_headers(token), as_json=True)
    seen["model_metadata"] = client.get_model_metadata(model, headers=_headers(token), as_json=True)

    infer_input = grpcclient.InferInput("x", list(x.shape), "FP32")
    infer_input.set_data_from_numpy(x)
    result = client.infer(
        model,
        [infer_input],
        headers=_headers(token),
        request_id="triton-1",
        outputs=[grpcclient.InferRequestedOutput("y")],
    )
    response = result.get_response(as_json=True)
    seen["infer"] = {
        "y": result.as_numpy("y").tolist(),
        "id": response.get("id"),
        "model_version": response.get("model_version"),
        "raw": bool(result.get_response().raw_output_contents),
    }
    seen["infer_version_1"] = (
        client.infer(model, [infer_input], model_version="1", headers=_headers(token)).as_numpy("y").tolist()
    )

    wrong_datatype = grpcclient.InferInput("x", list(x.shape), "FP64")
    wrong_datatype.set_data_from_numpy(x.astype(np.float64))
    seen["wrong_datatype"] = _failure(lambda: client.infer(model, [wrong_datatype], headers=_headers(token)))
    wrong_shape = grpcclient.InferInput("x", [x.shape[0], x.shape[1] + 1], "FP32")
    wrong_shape.set_data_from_numpy(np.zeros((x.shape[0], x.shape[1] + 1), dtype=np.float32))
    seen["wrong_shape"] = _failure(lambda: client.infer(model, [wrong_shape], headers=_headers(token)))
    wrong_name = grpcclient.InferInput("not_x", list(x.shape), "FP32")
    wrong_name.set_data_from_numpy(x)
    seen["wrong_name"] = _failure(lambda: client.infer(model, [wrong_name], headers=_headers(token)))
    seen["unknown_model"] = _failure(lambda: client.infer("ghost", [infer_input], headers=_headers(token)))
    seen["unknown_model_metadata"] = _failure(lambda: client.get_model_metadata("ghost", headers=_headers(token)))
    seen["no_token"] = _failure(lambda: client.is_server_live())
    seen["index"] = client.get_model_repository_index(headers=_headers(token), as_json=True)
    client.close()
    return seen


def main() -> None:
    """Parse the command line, run the scenarios, print one JSON line."""
    address, token, model, input_json = sys.argv[1:5]
    x = np.asarray(json.loads(input_json), dtype=np.float32)
    print(json.dumps(run(address, token, model, x)))


if __name__ == "__main__":
    main()
