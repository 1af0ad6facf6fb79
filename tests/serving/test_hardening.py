"""A default `maas serve` as an attacker and a clumsy client meet it: a generated token, foreign Host and
Origin refused, JSON only as JSON, numbers in ASCII only, limits that answer (413, 431, 503), bodies
that cannot hold a socket, non-finite values refused in JSON, models that would read files refused,
inference keys that open only their endpoints, a sweep at start, and a full disk that stores nothing."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import orjson
import pytest
import requests
from helpers import free_port, onnx_models, stop_process
from helpers.serve_home import populate_home, serve_env
from onnx import TensorProto, helper

pytestmark = pytest.mark.slow
MAX_REQUEST = 1_000_000
MAX_UPLOAD = 3_000_000
RECEIVING = 4


class Served:
    """A `maas serve` subprocess started as a user would, with no token given."""

    def __init__(self, home: Path, *extra: str, env_extra: dict | None = None, cwd: Path | None = None):
        self.home, self.http_port, self.grpc_port = home, free_port(), free_port()
        env = serve_env(home)
        env.pop("MAAS_TOKEN", None)
        env.update(env_extra or {})
        self.log = home.parent / f"serve-{self.http_port}.log"
        command = [
            sys.executable,
            "-m",
            "maas_jupyter.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            *extra,
        ]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd or home)
        self.url = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 120
        while not (home / "serve.json").exists() or not self._ready():
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.1)

    @property
    def token(self) -> str:
        return json.loads((self.home / "serve.json").read_text())["token"]

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def _ready(self) -> bool:
        try:
            return requests.get(self.url + "/v2/health/ready", headers=self.auth, timeout=2).status_code == 200
        except (requests.ConnectionError, OSError, ValueError, KeyError):
            return False

    def call(self, method, path, body=None, headers=None, raw=None, **kwargs):
        typed = {"Content-Type": "application/json"} if body is not None else {}
        data = raw if raw is not None else (None if body is None else orjson.dumps(body))
        return requests.request(
            method, self.url + path, data=data, timeout=60, headers={**self.auth, **typed, **(headers or {})}, **kwargs
        )

    def stop(self) -> None:
        stop_process(self.process, grace_s=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("hardening") / "maas"
    populate_home(home)
    server = Served(
        home,
        "--max-request-bytes",
        str(MAX_REQUEST),
        "--max-receiving",
        str(RECEIVING),
        "--body-timeout",
        "10",
        "--allow-origin",
        "https://app.example",
        env_extra={"MAAS_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)},
    )
    yield server
    server.stop()


X = [[1.0, 2.0, 3.0, 4.0]]


def infer_body(x=X):
    return {"inputs": [{"name": "X", "datatype": "FP32", "shape": list(np.shape(x)), "data": np.ravel(x).tolist()}]}


# ---- safe by default ------------------------------------------------------------------------------


def test_a_token_is_generated_kept_for_the_cli_and_required(served):
    path = served.home / "serve.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(served.token) >= 40 and served.token in served.log.read_text()  # printed, for the user
    for route in ("/v2/health/live", "/v2/models/ep", "/api/deployments", "/metrics"):
        assert requests.get(served.url + route, timeout=10).status_code == 401, route
    done = _cli(served, "deployments")
    assert done.returncode == 0 and "ep" in {e["name"] for e in json.loads(done.stdout)}, done.stderr


def _cli(served, *args):
    env = {k: v for k, v in serve_env(served.home).items() if k not in ("MAAS_URL", "MAAS_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "maas_jupyter.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_cli_manages_inference_keys(served):
    made = _cli(served, "keys", "create", "ep", "--description", "from the CLI")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["key"].startswith("maasik_") and key["endpoints"] == ["ep"]
    assert (
        requests.get(
            served.url + "/v2/models/ep", headers={"Authorization": f"Bearer {key['key']}"}, timeout=30
        ).status_code
        == 200
    )
    listed = json.loads(_cli(served, "keys").stdout)
    assert any(k["id"] == key["id"] for k in listed) and key["key"] not in json.dumps(listed)
    refused = _cli(served, "keys", "create")
    assert refused.returncode == 1 and "name the endpoints" in refused.stderr
    revoked = _cli(served, "keys", "revoke", str(key["id"]), "--reason", "cli test")
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["active"] is False


def test_serving_every_interface_without_a_token_refuses_to_start(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "maas_jupyter.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--no-token",
            "--http-port",
            str(free_port()),
        ],
        env=serve_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "refusing" in done.stderr and "--force" in done.stderr


def test_the_cross_site_script_runner_is_refused_every_way(served, tmp_path):
    """What a web page could send: a simple text/plain POST, through DNS rebinding or cross-origin."""
    target = tmp_path / "pwned"
    script = {"name": "x", "script": f"open({str(target)!r}, 'w').write('ran')"}
    attacks = [
        {"Origin": "http://evil.example", "Host": f"evil.example:{served.http_port}", "Content-Type": "text/plain"},
        {"Host": f"evil.example:{served.http_port}"},
        {"Origin": "http://evil.example", "Content-Type": "application/json"},
        {"Origin": "null", "Content-Type": "application/json"},
    ]
    for headers in attacks:
        for route in ("/api/jobs", "/api/deployments", "/v2/repository/models/ep/unload"):
            # Even with the token (a page cannot know it): the origin and host alone refuse it.
            answer = served.call("POST", route, raw=orjson.dumps(script), headers=headers)
            assert answer.status_code == 403, (headers, route, answer.text)
    plain = served.call("POST", "/api/jobs", raw=orjson.dumps(script), headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.json()["error"]["message"]
    assert not target.exists()
    assert served.call("GET", "/v2/models/ep/ready").status_code == 200  # unload never happened


def test_same_origin_and_allowed_origins(served):
    own = served.call("GET", "/api/deployments", headers={"Origin": served.url})
    assert own.status_code == 200 and "Access-Control-Allow-Origin" not in own.headers
    allowed = served.call("GET", "/api/deployments", headers={"Origin": "https://app.example"})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    preflight = requests.options(
        served.url + "/v2/models/ep/infer",
        timeout=10,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    refused = requests.options(
        served.url + "/v2/models/ep/infer",
        timeout=10,
        headers={"Origin": "https://other.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403
    assert served.call("GET", "/v2/health/live", headers={"Host": f"localhost:{served.http_port}"}).status_code == 200


# ---- numbers ----------------------------------------------------------------------------------------

ODD_NUMBERS = ["%C2%B2", "%D9%A3", "%EF%BC%93", "1_0", "+1", "%201", "99999999999999999999"]


@pytest.mark.parametrize("number", ODD_NUMBERS)
def test_odd_numbers_are_400_or_404_never_500_nor_a_version(served, number):
    routes = [
        ("GET", f"/api/models/linear/versions/{number}"),
        ("GET", f"/api/models/linear/versions/{number}/artifact"),
        ("GET", f"/api/models/linear/versions/{number}/reference"),
        ("GET", f"/api/jobs/{number}"),
        ("GET", f"/api/jobs/{number}/logs"),
        ("GET", f"/api/jobs/{number}/events"),
        ("POST", f"/api/jobs/{number}/cancel"),
        ("GET", f"/v2/models/ep/versions/{number}"),
        ("GET", f"/v2/models/ep/versions/{number}/ready"),
        ("DELETE", f"/api/keys/{number}"),
    ]
    for method, route in routes:
        answer = served.call(method, route)
        assert answer.status_code in (400, 404), (route, answer.status_code, answer.text)
    infer = served.call("POST", f"/v2/models/ep/versions/{number}/infer", infer_body())
    assert infer.status_code in (400, 404), infer.text
    decoded = requests.utils.unquote(number)
    for method, route, body in [
        ("PUT", "/api/models/linear/aliases/odd", {"version": decoded}),
        ("POST", "/api/deployments", {"name": "odd", "model": "linear", "version": decoded}),
        ("PATCH", "/api/deployments/ep", {"version": decoded}),
    ]:
        answer = served.call(method, route, body)
        assert answer.status_code in (400, 404), (route, answer.status_code, answer.text)
    assert served.call("GET", "/api/deployments/ep").json()["version"] == 1
    assert served.call("GET", "/api/deployments/odd").status_code == 404


def test_odd_numbers_over_grpc_are_not_internal(served):
    import grpc

    from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
    from maas_jupyter.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc

    metadata = (("authorization", f"Bearer {served.token}"),)
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for version in ("²", "٣", "３"):
            calls = [
                lambda v=version: stub.ModelReady(pb.ModelReadyRequest(name="ep", version=v), metadata=metadata),
                lambda v=version: stub.ModelMetadata(pb.ModelMetadataRequest(name="ep", version=v), metadata=metadata),
                lambda v=version: stub.ModelInfer(
                    pb.ModelInferRequest(model_name="ep", model_version=v), metadata=metadata
                ),
            ]
            for call in calls:
                with pytest.raises(grpc.RpcError) as caught:
                    call()
                assert caught.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT), (
                    caught.value
                )


# ---- limits that answer -------------------------------------------------------------------------------


def _raw_request(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        chunks = []
        with contextlib.suppress(socket.timeout, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def test_a_declared_body_over_the_limit_is_413_at_once(served):
    head = (
        f"POST /v2/models/ep/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
    ).encode()
    answer = _raw_request(served.http_port, head, b"{" * 1024)
    assert answer.startswith(b"HTTP/1.1 413 ") and f"the limit is {MAX_REQUEST} bytes".encode() in answer
    upload = served.call(
        "POST",
        "/api/models/big/versions",
        raw=b"x" * (MAX_UPLOAD + 2_000_000),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 413 and str(MAX_UPLOAD) in upload.json()["error"]["message"]


def test_an_upload_that_is_not_a_file_says_what_to_send(served):
    answer = served.call(
        "POST",
        "/api/models/m/versions",
        raw=onnx_models.linear(1.0),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 415 and "application/octet-stream" in answer.json()["error"]["message"]
    assert served.call("GET", "/api/models/m").status_code == 404


def test_huge_headers_are_431(served):
    head = (
        f"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.token}\r\n"
        f"X-Padding: {'a' * 70_000}\r\n\r\n"
    ).encode()
    answer = _raw_request(served.http_port, head)
    assert answer.startswith(b"HTTP/1.1 431 ") and b"the limit is 65536" in answer


def test_slow_senders_cannot_hold_the_sockets(served):
    head = (
        f"POST /v2/models/ep/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    slow = [socket.create_connection(("127.0.0.1", served.http_port), timeout=30) for _ in range(RECEIVING)]
    try:
        for sock in slow:
            sock.sendall(head + b"{")
        # Every slot is taken by a body still arriving: one more is turned away at once, with Retry-After.
        # (A probe that finds a slot free, before the server has read all four heads, gives up at once.)
        deadline = time.monotonic() + 8
        while True:
            answer = _raw_request(served.http_port, head, b"{", timeout=0.3)
            if answer.startswith(b"HTTP/1.1 503 "):
                break
            assert time.monotonic() < deadline, answer[:200]
        assert b"Retry-After: 1" in answer
        # The body timeout (10 s here) ends the slow ones: the server closes each of them by itself (one
        # that arrived while a probe held a slot was turned away at once, as the probes are).
        for sock in slow:
            sock.settimeout(30)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            assert received == b"" or received.startswith(b"HTTP/1.1 503 "), received[:100]
    finally:
        for sock in slow:
            sock.close()
    assert served.call("POST", "/v2/models/ep/infer", infer_body()).status_code == 200


def test_values_json_cannot_carry_are_refused_both_ways(served):
    too_big = served.call(
        "POST",
        "/v2/models/ep/infer",
        raw=b'{"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [1e39, 0, 0, 0]}]}',
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 400 and "beyond the FP32 range" in too_big.json()["error"]
    nan = np.array([[np.nan, 1, 2, 3]], np.float32).tobytes()
    header = orjson.dumps(
        {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": len(nan)}}]}
    )
    binary_in = {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}
    as_json = served.call("POST", "/v2/models/ep/infer", raw=header + nan, headers=binary_in)
    assert as_json.status_code == 400 and "cannot carry" in as_json.json()["error"]
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "X", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": len(nan)}}
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    binary_in["Inference-Header-Content-Length"] = str(len(header))
    as_binary = served.call("POST", "/v2/models/ep/infer", raw=header + nan, headers=binary_in)
    assert as_binary.status_code == 200, as_binary.text


# ---- model files are data -------------------------------------------------------------------------------


def _external_data_model(location: str) -> bytes:
    weight = onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4, 2])
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    weight.external_data.add(key="length", value="32")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "leak",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_external_data_is_refused_and_says_nothing_of_the_file(served):
    (served.home / "secret.txt").write_text("TOP-SECRET-" + "x" * 21)  # in the server's working directory
    answers = []
    for location in ("secret.txt", "no-such-file.txt"):
        answer = served.call(
            "POST",
            "/api/models/leak/versions",
            raw=_external_data_model(location),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert answer.status_code == 400 and "external files" in answer.json()["error"]["message"]
        answers.append(answer.json()["error"]["message"])
    assert answers[0] == answers[1], "the refusal must not tell whether the file exists"
    assert "TOP-SECRET" not in answers[0]
    assert served.call("GET", "/api/models/leak").status_code == 404


# ---- inference keys -------------------------------------------------------------------------------------


def test_an_inference_key_opens_only_its_endpoints_inference(served):
    created = served.call("POST", "/api/keys", {"endpoints": ["ep"], "description": "the shop's backend"})
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    assert key.startswith("maasik_") and created.json()["endpoints"] == ["ep"]
    listed = served.call("GET", "/api/keys").json()["items"]
    assert key not in json.dumps(listed) and any(k["id"] == key_id for k in listed)
    with_key = {"Authorization": f"Bearer {key}"}
    assert (
        requests.post(served.url + "/v2/models/ep/infer", json=infer_body(), headers=with_key, timeout=30).status_code
        == 200
    )
    assert requests.get(served.url + "/v2/models/ep", headers=with_key, timeout=30).status_code == 200
    assert requests.get(served.url + "/v2/health/ready", headers=with_key, timeout=30).status_code == 200
    for method, route in [
        ("POST", "/v2/models/two/infer"),
        ("GET", "/v2/models/two"),
        ("GET", "/api/deployments"),
        ("POST", "/api/jobs"),
        ("GET", "/api/keys"),
        ("POST", "/v2/repository/models/ep/unload"),
        ("GET", "/metrics"),
        ("POST", "/v2/repository/index"),
    ]:
        answer = requests.request(method, served.url + route, headers=with_key, timeout=30, json={})
        assert answer.status_code == 403, (route, answer.text)

    import grpc

    from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
    from maas_jupyter.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc

    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        metadata = (("authorization", f"Bearer {key}"),)
        assert stub.ModelReady(pb.ModelReadyRequest(name="ep"), metadata=metadata).ready
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelReady(pb.ModelReadyRequest(name="two"), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as caught:
            stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="ep"), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    used = next(k for k in served.call("GET", "/api/keys").json()["items"] if k["id"] == key_id)
    assert used["last_used_at"] is not None
    assert served.call("DELETE", f"/api/keys/{key_id}", params={"reason": "rotated"}).json()["active"] is False
    deadline = time.monotonic() + 30  # every process believes a verified key for a moment (CACHE_S)
    while requests.get(served.url + "/v2/models/ep", headers=with_key, timeout=30).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still worked after 30 s"
        time.sleep(0.1)
    history = served.call("GET", f"/api/history/{created.json()['prefix']}").json()["items"]
    assert [h["action"] for h in history] == ["create", "revoke"] and history[1]["reason"] == "rotated"


@pytest.mark.parametrize(
    "body, words",
    [
        ({}, "endpoints"),
        ({"endpoints": []}, "endpoints"),
        ({"endpoints": ["../x"]}, "not allowed"),
        ({"endpoints": "ep", "color": "red"}, "unknown field"),
        ({"endpoints": ["ep"], "description": 5}, "description"),
    ],
)
def test_bad_key_requests_change_nothing(served, body, words):
    before = served.call("GET", "/api/keys", params={"revoked": "1"}).json()["items"]
    answer = served.call("POST", "/api/keys", body)
    assert answer.status_code == 400 and words in answer.json()["error"]["message"]
    assert served.call("GET", "/api/keys", params={"revoked": "1"}).json()["items"] == before


# ---- what crashes and full disks leave ------------------------------------------------------------------


def test_a_start_reclaims_what_interrupted_registrations_left(tmp_path):
    home = tmp_path / "maas"
    populate_home(home)
    folder = home / "artifacts" / "sha256" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    leftovers = [folder / ".tmp-cut-short", folder / ("ab" + "0" * 62)]
    for path in leftovers:
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    fresh = folder / ".tmp-in-flight"
    fresh.write_bytes(b"y" * 10)  # a registration writing right now: left alone
    server = Served(home)
    try:
        assert not any(path.exists() for path in leftovers) and fresh.exists()
        history = server.call("GET", "/api/history/artifacts").json()["items"]
        assert history[-1]["action"] == "sweep" and history[-1]["files"] == 2 and history[-1]["bytes"] == 2000
        assert server.call("POST", "/v2/models/ep/infer", infer_body()).status_code == 200
    finally:
        server.stop()


def _big_model(megabytes: float) -> bytes:
    values = np.random.default_rng(0).standard_normal(int(megabytes * 1e6 / 4)).astype(np.float32)
    pad = helper.make_tensor("pad", TensorProto.FLOAT, [values.size], values)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"])],
        "big",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 4])],
        [pad],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_full_disk_is_507_stores_nothing_and_serving_goes_on(tmp_path):
    home = tmp_path / "maas"
    home.mkdir()
    small = tmp_path / "small-disk"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.fail(
            f"this test fills a 1 MiB tmpfs and needs to mount one (root): {mounted.stderr.strip()}", pytrace=False
        )
    try:
        os.symlink(small, home / "artifacts")  # the database stays on the big disk
        (small / "sha256").mkdir()
        server = Served(home)
        try:
            before = server.call("GET", "/api/models").json()
            answer = server.call(
                "POST",
                "/api/models/huge/versions",
                raw=_big_model(2.0),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert answer.status_code == 507 and "no space left" in answer.json()["error"]["message"]
            assert server.call("GET", "/api/models").json() == before
            assert not any(p.name.startswith(".tmp-") for p in small.rglob("*")), "a half-written file stayed"
            assert server.call("GET", "/v2/health/ready").status_code == 200
            small_one = server.call(
                "POST",
                "/api/models/tiny/versions",
                raw=onnx_models.linear(1.0),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert small_one.status_code == 201, small_one.text  # what fits is still stored
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", str(small)], check=True)
