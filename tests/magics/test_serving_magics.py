"""%maas deploy / predict / rollback / canary / promote / undeploy against both bodies."""

from __future__ import annotations

import getpass
import time
import uuid

import numpy as np
import onnxruntime as ort
import pytest
import requests
from IPython.core.error import UsageError


def maas(shell, line):
    return shell.run_line_magic("maas", line)


def reference(onnx_bytes, x):
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.fixture
def name():
    return "s-" + uuid.uuid4().hex[:8]


def test_deploy_predict_swap_rollback_canary_promote_undeploy(shell, body, name, make_onnx, capsys):
    v1, v2, v3 = make_onnx(seed=1), make_onnx(seed=2), make_onnx(seed=3)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    shell.user_ns.update({"v1": v1, "v2": v2, "v3": v3, "x": x})
    for variable in ("v1", "v2", "v3"):
        maas(shell, f"register {variable} --name {name}")

    capsys.readouterr()
    # Changes answer in one line that says what happened; the listings are tables.
    assert maas(shell, f"deploy {name}@1 --as {name}-ep --max-batch 8 --max-delay-ms 2") is None
    # (In-process, the first deploy also says that it starts the kernel's serving process.)
    assert capsys.readouterr().out.splitlines()[-1] == f"{name}-ep: serving {name}@1, ready"
    deployed = maas(shell, "endpoints")
    assert deployed.loc[f"{name}-ep", "state"] == "ready" and deployed.loc[f"{name}-ep", "version"] == 1
    np.testing.assert_allclose(maas(shell, f"predict {name}-ep x"), reference(v1, x), rtol=1e-5)
    np.testing.assert_allclose(maas(shell, f"predict {name}-ep x[:2, :]"), reference(v1, x[:2]), rtol=1e-5)

    maas(shell, f"deploy {name}@2 --as {name}-ep")  # a hot swap
    np.testing.assert_allclose(maas(shell, f"predict {name}-ep x"), reference(v2, x), rtol=1e-5)
    capsys.readouterr()
    assert maas(shell, f"rollback {name}-ep") is None
    assert capsys.readouterr().out == f"{name}-ep: serving {name}@1 (rollback, was @2)\n"
    assert maas(shell, "endpoints").loc[f"{name}-ep", "version"] == 1
    np.testing.assert_allclose(maas(shell, f"predict {name}-ep x"), reference(v1, x), rtol=1e-5)

    maas(shell, f"deploy {name}@3 --canary {name}-ep --weight 20")
    assert f"canary {name}@3 takes 20% of requests, {name}@1 the rest" in capsys.readouterr().out
    canary = maas(shell, "endpoints")
    assert canary.loc[f"{name}-ep", "canary_version"] == 3 and canary.loc[f"{name}-ep", "canary_weight"] == 20
    np.testing.assert_allclose(maas(shell, f"predict {name}-ep@3 x"), reference(v3, x), rtol=1e-5)
    maas(shell, f"promote {name}-ep")
    assert maas(shell, "endpoints").loc[f"{name}-ep", "version"] == 3
    assert name + "-ep" in maas(shell, "endpoints").index

    history = maas(shell, f"history {name}-ep")
    assert list(history["action"]) == ["deploy", "swap", "rollback", "canary", "promote"]
    # Endpoint changes (made in the serving process, through Jupyter's proxy with a server body) name the
    # user Jupyter authenticated, as registry changes (made in the Jupyter server itself) do, not the OS user
    # of the serving process. Behind a shared token Jupyter names each cookie-less request a fresh anonymous
    # user (a uuid): the names are alike in kind, not equal.
    maas(shell, f"alias {name}@1 staging")
    registry_actor = maas(shell, f"history {name}")["actor"].iloc[-1]
    if body is None:
        assert set(history["actor"]) == {registry_actor} == {getpass.getuser()}
    else:
        assert getpass.getuser() not in set(history["actor"])
        assert all(len(actor) == len(registry_actor) == 32 for actor in history["actor"])
    maas(shell, f"undeploy {name}-ep")
    assert name + "-ep" not in maas(shell, "endpoints").index
    with pytest.raises(UsageError, match="no endpoint|not found|does not exist"):
        maas(shell, f"predict {name}-ep x")


def test_one_line_deploy_of_a_model_variable(shell, body, make_onnx, capsys):
    variable = "clf_" + uuid.uuid4().hex[:6]
    shell.user_ns[variable] = make_onnx(seed=4)
    shell.user_ns["x"] = np.ones((2, 4), np.float32)
    assert maas(shell, f"deploy {variable}") is None
    # One line says what happened (in-process, a note that the kernel's serving process starts comes first).
    said = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("maas: starting")]
    assert len(said) == 1, said
    assert said[0].startswith(
        f"{variable}: serving {variable}@1, ready (registered {variable}@1 from {variable}, sha256 "
    )
    assert maas(shell, "endpoints").loc[variable, "state"] == "ready"
    np.testing.assert_allclose(
        maas(shell, f"predict {variable} x"), reference(make_onnx(seed=4), np.ones((2, 4), np.float32)), rtol=1e-5
    )
    maas(shell, f"undeploy {variable}")


def test_notebook_code_gets_the_endpoint_address_and_credential(shell, body, name, make_onnx):
    import maas_jupyter

    shell.user_ns["m"] = make_onnx(seed=6)
    maas(shell, f"deploy m --name {name}")
    endpoint = maas_jupyter.endpoint(name)
    assert endpoint.model == name and endpoint.infer_url == f"{endpoint.rest}/models/{name}/infer"
    payload = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    reply = requests.post(endpoint.infer_url, json=payload, headers=endpoint.headers, timeout=30)
    assert reply.status_code == 200, reply.text
    np.testing.assert_allclose(
        reply.json()["outputs"][0]["data"],
        reference(make_onnx(seed=6), np.array([[1, 2, 3, 4]], np.float32))[0],
        rtol=1e-5,
    )
    assert requests.get(endpoint.url, headers=endpoint.headers, timeout=30).json()["name"] == name
    assert requests.post(endpoint.infer_url, json=payload, timeout=30).status_code in (401, 403)
    info = maas(shell, "info")
    assert info.loc["rest", "value"] == endpoint.rest and "connection().headers" in info.loc["credential", "value"]
    assert endpoint.headers["Authorization"] not in info.to_string(), "the token stays out of notebook outputs"
    if body is None:  # the kernel's own serving process: gRPC with the same credential
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(url=endpoint.grpc)
        try:
            assert client.is_model_ready(endpoint.model, headers=endpoint.grpc_headers)
        finally:
            client.close()
    else:
        assert endpoint.grpc is None and "inference key" in endpoint.grpc_note
    maas(shell, f"undeploy {name}")


def test_an_inference_key_from_the_notebook_calls_only_its_endpoint(shell, body, name, make_onnx, capsys):
    import maas_jupyter

    shell.user_ns.update(m=make_onnx(seed=7), other=make_onnx(seed=8))
    maas(shell, f"deploy m --name {name}")
    maas(shell, f"deploy other --name {name}-other")
    capsys.readouterr()
    maas(shell, f"keys create {name} --description 'the shop'")
    printed = capsys.readouterr().out
    key = next(word for word in printed.split() if word.startswith("maasik_"))
    listed = maas(shell, "keys")
    key_id = int(listed.index[listed["prefix"] == key[:12]][0])
    assert listed.loc[key_id, "endpoints"] == name and key not in listed.to_string()
    app = maas_jupyter.endpoint(name, key=key)
    payload = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    assert requests.post(app.infer_url, json=payload, headers=app.headers, timeout=30).status_code == 200
    elsewhere = maas_jupyter.endpoint(f"{name}-other", key=key)
    assert requests.post(elsewhere.infer_url, json=payload, headers=elsewhere.headers, timeout=30).status_code == 403
    assert requests.get(f"{app.api}/models", headers=app.headers, timeout=30).status_code in (401, 403)

    import tritonclient.grpc as grpcclient  # the gRPC port takes the key under Jupyter too

    client = grpcclient.InferenceServerClient(url=app.grpc)
    try:
        assert client.is_model_ready(app.model, headers=app.grpc_headers)
    finally:
        client.close()
    for line, words in [
        ("keys create", "name the endpoints"),
        (f"keys create {name} --all", "not both"),
        ("keys revoke", "one key's id"),
        ("keys revoke abc", "a key id is a number"),
        ("keys revoke 99999", "does not exist"),
        ("keys create ../x", "not allowed"),
    ]:
        with pytest.raises(UsageError, match=words):
            maas(shell, line)
    assert list(maas(shell, "keys").index) == list(listed.index)
    maas(shell, f"keys revoke {key_id} --reason done")
    deadline = time.monotonic() + 30  # a verified key is believed for a moment in each serving process
    while requests.post(app.infer_url, json=payload, headers=app.headers, timeout=30).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still worked after 30 s"
        time.sleep(0.1)
    assert key_id not in maas(shell, "keys").index and key_id in maas(shell, "keys --revoked").index
    maas(shell, f"undeploy {name}")
    maas(shell, f"undeploy {name}-other")


def test_rest_route_under_jupyter_reaches_the_endpoint(shell, jupyter_server, monkeypatch, name, make_onnx):
    body = jupyter_server
    monkeypatch.setenv("MAAS_JUPYTER_URL", body.api)
    monkeypatch.setenv("MAAS_JUPYTER_TOKEN", body.token)
    shell.user_ns["m"] = make_onnx(seed=5)
    maas(shell, f"deploy m --name {name}")
    payload = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    reply = requests.post(
        f"{body.url}maas/v2/models/{name}/infer",
        json=payload,
        headers={"Authorization": f"token {body.token}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    got = np.array(reply.json()["outputs"][0]["data"], np.float32)
    np.testing.assert_allclose(got, reference(make_onnx(seed=5), np.array([[1, 2, 3, 4]], np.float32))[0], rtol=1e-5)
    # Without the token: refused, and the endpoint goes on serving.
    assert requests.post(f"{body.url}maas/v2/models/{name}/infer", json=payload, timeout=30).status_code == 403
    bad = requests.post(
        f"{body.url}maas/v2/models/{name}/infer",
        headers={"Authorization": f"token {body.token}"},
        json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]},
        timeout=30,
    )
    assert bad.status_code == 400 and "shape" in bad.json()["error"]
    maas(shell, f"undeploy {name}")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("deploy NAME@1 --canary", "expected one argument"),
        ("deploy NAME@1 --canary EP", "--weight"),
        ("deploy NAME --weight 5", "--canary"),
        ("deploy NAME@9", "no version 9"),
        ("deploy nosuchmodel", "does not exist"),
        ("deploy ../etc", "not allowed"),
        ("predict nosuchendpoint x", "no endpoint"),
        ("predict NAME-ep notdefined", "not defined"),
        ("predict NAME-ep wrong", "shape|element|expects"),
        ("rollback nosuchendpoint", "no endpoint"),
        ("promote NAME-ep", "canary"),
    ],
)
def test_bad_serving_input_is_a_one_line_error(shell, body, name, make_onnx, line, reason):
    shell.user_ns.update(
        {"m": make_onnx(seed=6), "x": np.ones((1, 4), np.float32), "wrong": np.ones((1, 3), np.float32)}
    )
    maas(shell, f"register m --name {name}")
    maas(shell, f"deploy {name}@1 --as {name}-ep")
    with pytest.raises(UsageError, match=reason):
        maas(shell, line.replace("NAME", name))
    frame = maas(shell, "endpoints")
    assert frame.loc[f"{name}-ep", "version"] == 1 and frame.loc[f"{name}-ep", "state"] == "ready"
    maas(shell, f"undeploy {name}-ep")
