"""A real `maas serve` subprocess on free loopback ports: V2 REST with plain `requests`, every bad input."""

import numpy as np
import orjson
import pytest
import requests
from helpers import onnx_models
from helpers.serve_home import TOKEN, populate_home, serve_env

from maas_jupyter.serving.client import ServingClient
from maas_jupyter.serving.supervisor import ServingProcess

pytestmark = pytest.mark.slow
LIMIT = 1_000_000
AUTH = {"Authorization": f"Bearer {TOKEN}"}
X = (np.arange(8, dtype=np.float32).reshape(2, 4) - 3) / 7


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One serve process for this module, stopped by the fixture that started it."""
    home = tmp_path_factory.mktemp("rest") / "maas"
    populate_home(home)
    process = ServingProcess(
        serve_env(home),
        TOKEN,
        grpc=False,
        extra_args=["--max-request-bytes", str(LIMIT)],
        log_path=str(home.parent / "serve.log"),
    )
    yield process
    process.stop()


def call(served, method, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (None if body is None else orjson.dumps(body))
    typed = {"Content-Type": "application/json"} if body is not None else {}
    return requests.request(
        method, served.http_url + path, data=data, headers={**AUTH, **typed, **(headers or {})}, timeout=60
    )


def json_infer(x=X, name="X", datatype="FP32", **extra):
    return {
        "inputs": [
            {"name": name, "datatype": datatype, "shape": list(np.shape(x)), "data": np.asarray(x).reshape(-1).tolist()}
        ],
        **extra,
    }


def test_health_server_and_model_metadata(served):
    assert call(served, "GET", "/v2/health/live").json() == {"live": True}
    assert call(served, "GET", "/v2/health/ready").status_code == 200
    meta = call(served, "GET", "/v2").json()
    assert meta["name"] == "maas-jupyter" and "binary_tensor_data" in meta["extensions"]
    assert "model_repository" in meta["extensions"]
    for path in ("/v2/models/ep", "/v2/models/ep/versions/1"):
        model = call(served, "GET", path).json()
        assert model["name"] == "ep" and model["versions"] == ["1"] and model["platform"] == "onnxruntime_onnx"
        assert model["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
        assert [o["name"] for o in model["outputs"]] == ["Y", "label"]
    assert call(served, "GET", "/v2/models/ep/ready").json() == {"name": "ep", "ready": True}
    assert call(served, "GET", "/v2/models/ep/versions/1/ready").status_code == 200


def test_the_actor_header_names_who_changed_an_endpoint_only_with_the_token(served):
    # What the Jupyter proxy sends on behalf of its user, believed only with the token and cut to 200 characters.
    forged = requests.post(
        served.http_url + "/api/deployments",
        headers={"X-Maas-Actor": "mallory"},
        timeout=10,
        data=orjson.dumps({"name": "actor-ep", "model": "linear", "version": 1}),
    )
    assert forged.status_code == 401
    deployed = call(
        served,
        "POST",
        "/api/deployments",
        {"name": "actor-ep", "model": "linear", "version": 1},
        headers={"X-Maas-Actor": "alice"},
    )
    assert deployed.status_code in (200, 201), deployed.text
    removed = call(
        served, "DELETE", "/api/deployments/actor-ep", {"reason": "done"}, headers={"X-Maas-Actor": "b" * 300}
    )
    assert removed.status_code in (200, 204), removed.text
    deploy, undeploy = call(served, "GET", "/api/history/actor-ep").json()["items"][-2:]
    assert deploy["action"] == "deploy" and deploy["actor"] == "alice"
    assert undeploy["action"] == "undeploy" and undeploy["actor"] == "b" * 200


def test_json_infer_flat_nested_with_and_without_version(served):
    want = onnx_models.linear_reference(1.0, X)
    nested = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": X.tolist()}], "id": "abc"}
    for path, body in (("/v2/models/ep/infer", json_infer()), ("/v2/models/ep/versions/1/infer", nested)):
        response = call(served, "POST", path, body)
        assert response.status_code == 200, response.text
        doc = response.json()
        assert doc["model_name"] == "ep" and doc["model_version"] == "1"
        y = next(o for o in doc["outputs"] if o["name"] == "Y")
        assert y["shape"] == [2, 3] and y["datatype"] == "FP32"
        np.testing.assert_allclose(np.array(y["data"]).reshape(2, 3), want, rtol=1e-6)
    assert call(served, "POST", "/v2/models/ep/infer", nested).json()["id"] == "abc"


def test_binary_inputs_and_outputs_and_requested_outputs(served):
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "X", "datatype": "FP32", "shape": [2, 4], "parameters": {"binary_data_size": X.nbytes}}
            ],
            "outputs": [{"name": "label", "parameters": {"binary_data": True}}],
        }
    )
    response = call(
        served,
        "POST",
        "/v2/models/ep/infer",
        raw=header + X.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["Inference-Header-Content-Length"])
    doc = orjson.loads(response.content[:length])
    assert [o["name"] for o in doc["outputs"]] == ["label"]
    labels = np.frombuffer(response.content[length:], dtype=np.int64)
    np.testing.assert_array_equal(labels, onnx_models.linear_reference(1.0, X).argmax(axis=1))


def test_two_inputs_with_bytes_through_the_client(served):
    client = ServingClient(served.http_url, TOKEN)
    try:
        a = np.ones((3, 2), np.float32)
        out = client.predict("two", {"A": a, "B": a * 2, "TAG": np.array([b"x", b"\xc3\xa9", b""], dtype=object)})
        np.testing.assert_array_equal(out["SUM"], a * 3)
        assert list(out["TAG_OUT"]) == [b"x", "\u00e9".encode(), b""]
    finally:
        client.close()


def _bad(served, path, body=None, raw=None, headers=None, method="POST"):
    return call(served, method, path, body, headers, raw)


BAD_REQUESTS = [
    ("unknown input name", "/v2/models/ep/infer", json_infer(name="Z"), 400, "unknown input 'Z'"),
    ("wrong datatype", "/v2/models/ep/infer", json_infer(datatype="FP64"), 400, "the model expects FP32"),
    ("wrong shape", "/v2/models/ep/infer", json_infer(np.zeros((2, 5))), 400, "shape [2, 5]"),
    ("wrong rank", "/v2/models/ep/infer", json_infer(np.zeros(4)), 400, "shape [4]"),
    (
        "count mismatch",
        "/v2/models/ep/infer",
        {"inputs": [{"name": "X", "datatype": "FP32", "shape": [3, 4], "data": [0.0] * 8}]},
        400,
        "has 8 elements",
    ),
    (
        "strings as numbers",
        "/v2/models/ep/infer",
        {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": ["a", "b", "c", "d"]}]},
        400,
        "must be numbers",
    ),
    ("unknown datatype", "/v2/models/ep/infer", json_infer(datatype="FLOAT32"), 400, "datatype 'FLOAT32'"),
    ("missing input", "/v2/models/two/infer", json_infer(np.ones((1, 2)), name="A"), 400, "missing input"),
    ("unknown output", "/v2/models/ep/infer", json_infer(outputs=[{"name": "nope"}]), 400, "unknown output"),
    ("no inputs", "/v2/models/ep/infer", {"inputs": []}, 400, "non-empty 'inputs'"),
    ("unknown endpoint", "/v2/models/nothing/infer", json_infer(), 404, "no endpoint named 'nothing'"),
    ("unknown version", "/v2/models/ep/versions/7/infer", json_infer(), 404, "does not serve version 7"),
    ("version not a number", "/v2/models/ep/versions/abc/infer", json_infer(), 404, "not a version number"),
    ("failed model", "/v2/models/frail/infer", json_infer(), 503, "failed to load"),
]


@pytest.mark.parametrize("what,path,body,status,reason", BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
def test_bad_requests_get_the_status_and_the_reason(served, what, path, body, status, reason):
    response = _bad(served, path, body)
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]


def test_malformed_bodies_and_headers(served):
    cases = [
        (b"{not json", {}, "not valid JSON"),
        (b"[]", {}, "must be a JSON object"),
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "999"}, "Inference-Header-Content-Length is 999"),
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "ten"}, "must be a whole number"),
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "\u00b2"}, "must be a whole number"),
        (orjson.dumps(json_infer()), {"Content-Encoding": "gzip"}, "not supported"),
    ]
    for raw, headers, reason in cases:
        response = _bad(served, "/v2/models/ep/infer", raw=raw, headers=headers)
        assert response.status_code == 400 and reason in response.json()["error"], response.text


def test_too_large_body_is_413_and_the_server_keeps_serving(served):
    big = (
        b'{"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [' + b"0.0," * (LIMIT // 4) + b"0]}]}"
    )
    response = _bad(served, "/v2/models/ep/infer", raw=big)
    assert response.status_code == 413 and f"the limit is {LIMIT} bytes" in response.json()["error"]
    assert _bad(served, "/v2/models/ep/infer", json_infer()).status_code == 200


def test_unknown_model_metadata_and_readiness(served):
    assert _bad(served, "/v2/models/nothing", method="GET").status_code == 404
    assert _bad(served, "/v2/models/nothing/ready", method="GET").status_code == 404
    assert _bad(served, "/v2/models/ep/versions/9", method="GET").status_code == 404
    frail = _bad(served, "/v2/models/frail/ready", method="GET")
    assert frail.status_code == 503 and frail.json()["ready"] is False
    assert _bad(served, "/v2/models/frail", method="GET").json()["inputs"][0]["name"] == "X"
    assert _bad(served, "/v2/no/such/route", method="GET").status_code == 404


def test_repository_index_unload_and_load(served):
    index = {e["name"]: e for e in call(served, "POST", "/v2/repository/index").json()}
    assert index["ep"]["state"] == "READY" and index["frail"]["state"] == "UNAVAILABLE"
    assert "corrupt" in index["frail"]["reason"]
    ready_only = {e["name"] for e in call(served, "POST", "/v2/repository/index", {"ready": True}).json()}
    assert "frail" not in ready_only and "ep" in ready_only
    assert call(served, "POST", "/v2/repository/models/two/unload").status_code == 200
    unloaded = call(served, "POST", "/v2/models/two/infer", json_infer(np.ones((1, 2)), name="A"))
    assert unloaded.status_code == 503 and "unloaded" in unloaded.json()["error"]
    assert call(served, "GET", "/v2/models/two/ready").status_code == 503
    assert call(served, "POST", "/v2/repository/models/two/load").status_code == 200
    assert call(served, "GET", "/v2/models/two/ready").status_code == 200
    response = call(served, "POST", "/v2/repository/models/frail/load")
    assert response.status_code == 503 and "corrupt" in response.json()["error"]
    assert call(served, "POST", "/v2/repository/models/nothing/load").status_code == 404


def test_the_official_triton_http_client_works_unchanged(served):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("tritonclient_http_scenario.py")
    done = subprocess.run(
        [sys.executable, str(script), served.http_url.removeprefix("http://"), TOKEN],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
