"""The registry's management REST under {base_url}maas/api/, through a real Jupyter server app."""

from __future__ import annotations

import json

import pytest
from urllib3 import encode_multipart_formdata


def multipart(onnx_bytes, metadata=None, keras_bytes=None):
    """A multipart/form-data upload body and its headers."""
    fields = {"file": ("model.onnx", onnx_bytes, "application/octet-stream")}
    if keras_bytes is not None:
        fields["keras"] = ("model.keras", keras_bytes, "application/octet-stream")
    if metadata is not None:
        fields["metadata"] = json.dumps(metadata)
    body, content_type = encode_multipart_formdata(fields)
    return body, {"Content-Type": content_type}


def artifact_files(home):
    return [p for p in (home / "artifacts").rglob("*") if p.is_file()] if (home / "artifacts").exists() else []


async def upload(api, name, data, metadata=None):
    body, headers = multipart(data, metadata)
    return await api("POST", "models", name, "versions", raw=body, headers=headers)


async def test_info(api, maas_home):
    status, info = await api("GET", "info")
    assert status == 200 and info["home"] == str(maas_home) and info["database"].startswith("sqlite")


async def test_model_lifecycle(api, make_onnx):
    status, model = await api("POST", "models", body={"name": "mnist", "description": "digits", "tags": {"t": "1"}})
    assert status == 201 and model["name"] == "mnist" and model["latest_version"] is None
    status, listed = await api("GET", "models")
    assert status == 200 and [m["name"] for m in listed["items"]] == ["mnist"] and listed["total"] == 1
    status, changed = await api("PATCH", "models", "mnist", body={"description": "handwritten digits"})
    assert status == 200 and changed["description"] == "handwritten digits" and changed["tags"] == {"t": "1"}
    status, _ = await api("DELETE", "models", "mnist")
    assert status == 204
    status, error = await api("GET", "models", "mnist")
    assert status == 404 and error["error"]["code"] == "not_found" and "mnist" in error["error"]["message"]


async def test_upload_versions_aliases_and_history(api, make_onnx):
    status, v1 = await upload(api, "mnist", make_onnx(seed=1), {"description": "first", "metrics": {"acc": 0.9}})
    assert status == 201 and v1["version"] == 1 and v1["metrics"] == {"acc": 0.9}
    status, v2 = await api(
        "POST",
        "models",
        "mnist",
        "versions",
        raw=make_onnx(seed=2),
        headers={"Content-Type": "application/octet-stream"},
        params={"alias": "staging"},
    )
    assert status == 201 and v2["version"] == 2 and v2["aliases"] == ["staging"]

    status, version = await api("PUT", "models", "mnist", "aliases", "production", body={"version": 1})
    assert status == 200 and version["version"] == 1
    status, version = await api("GET", "models", "mnist", "aliases", "production")
    assert status == 200 and version["version"] == 1 and version["aliases"] == ["production"]
    status, version = await api("GET", "models", "mnist", "versions", "staging")
    assert status == 200 and version["version"] == 2
    status, page = await api("GET", "models", "mnist", "versions", params={"limit": 1, "offset": 1})
    assert [v["version"] for v in page["items"]] == [2] and page["total"] == 2
    status, data = await api("GET", "models", "mnist", "versions", "1", "artifact")
    assert status == 200 and data == make_onnx(seed=1)
    status, history = await api("GET", "history", "mnist")
    assert [(h["alias"], h["to"]) for h in history["items"]] == [("staging", 2), ("production", 1)]
    status, _ = await api("DELETE", "models", "mnist", "aliases", "production")
    assert status == 204
    status, _ = await api("GET", "models", "mnist", "aliases", "production")
    assert status == 404


async def test_duplicate_model_is_409(api):
    assert (await api("POST", "models", body={"name": "m"}))[0] == 201
    status, error = await api("POST", "models", body={"name": "m"})
    assert status == 409 and error["error"]["code"] == "conflict"


@pytest.mark.parametrize("path", [("models", "nope"), ("models", "nope", "versions"), ("history", "nope")])
async def test_unknown_model_is_404(api, path):
    status, error = await api("GET", *path)
    if path[0] == "history":
        assert status == 200 and error["items"] == []
    else:
        assert status == 404 and "nope" in error["error"]["message"]


async def test_unknown_version_and_alias_are_404(api, make_onnx):
    await upload(api, "m", make_onnx())
    for parts in [("versions", "9"), ("aliases", "production"), ("versions", "prod")]:
        status, error = await api("GET", "models", "m", *parts)
        assert status == 404, parts
    status, _ = await api("PUT", "models", "m", "aliases", "production", body={"version": 9})
    assert status == 404


@pytest.mark.parametrize("name", [".hidden", "x" * 65, "sp ace", "a..%2F"])
async def test_bad_names_are_400(api, name, make_onnx):
    status, error = await api("POST", "models", body={"name": name})
    assert status == 400 and error["error"]["code"] == "invalid_input"
    status, error = await upload(api, name, make_onnx())
    assert status == 400


async def test_path_traversal_names_are_400(
    jp_fetch, jp_base_url, http_server_client, jp_auth_header, maas_home, make_onnx
):
    for raw in ["..%2Fx", "a%2Fb", "%2E%2E"]:
        url = f"{jp_base_url}maas/api/models/{raw}/versions"
        reply = await http_server_client.fetch(
            url,
            method="POST",
            body=make_onnx(),
            raise_error=False,
            headers={**jp_auth_header, "Content-Type": "application/octet-stream"},
        )
        assert reply.code in (400, 404), raw
        if reply.code == 400:
            assert json.loads(reply.body)["error"]["code"] == "invalid_input"
    assert artifact_files(maas_home) == []


@pytest.mark.parametrize("data", [b"", b"garbage bytes, not onnx", b"\x0a\x0b" * 100])
async def test_corrupt_upload_is_400_and_leaves_nothing(api, maas_home, data):
    status, error = await upload(api, "m", data)
    assert status == 400 and error["error"]["message"]
    status, models = await api("GET", "models")
    assert models["total"] == 0
    assert artifact_files(maas_home) == []


async def test_upload_over_limit_is_413(api, jp_serverapp, make_onnx, maas_home):
    platform = jp_serverapp.web_app.settings["maas_platform"]
    from dataclasses import replace

    platform.settings = replace(platform.settings, max_upload_bytes=64)
    status, error = await upload(api, "m", make_onnx())
    assert status == 413 and error["error"]["code"] == "payload_too_large"
    assert artifact_files(maas_home) == []


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"name": "m", "color": "red"}'])
async def test_bad_json_bodies_are_400(api, body):
    status, error = await api("POST", "models", raw=body, headers={"Content-Type": "application/json"})
    assert status == 400 and error["error"]["code"] == "invalid_input"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_json_routes_take_only_json_bodies(api, content_type):
    """A page may post text/plain or a form cross-site without asking first: JSON routes refuse them."""
    headers = {"Content-Type": content_type} if content_type else {}
    status, error = await api("POST", "models", raw='{"name": "m"}', headers=headers)
    assert status == 415 and "application/json" in error["error"]["message"]
    assert (await api("GET", "models"))[1]["total"] == 0


async def test_bad_multipart_is_400(api, make_onnx):
    body, headers = multipart(make_onnx())
    status, error = await api(
        "POST", "models", "m", "versions", raw=body.replace(b'name="file"', b'name="other"'), headers=headers
    )
    assert status == 400 and "file" in error["error"]["message"]
    body, headers = multipart(make_onnx(), {"alias": "1"})
    assert (await api("POST", "models", "m", "versions", raw=body, headers=headers))[0] == 400
    body, headers = multipart(make_onnx(), {"weights": "x"})
    assert (await api("POST", "models", "m", "versions", raw=body, headers=headers))[0] == 400
    status, models = await api("GET", "models")
    assert models["total"] == 0


async def test_bad_paging_is_400(api):
    assert (await api("GET", "models", params={"limit": "abc"}))[0] == 400
    assert (await api("GET", "models", params={"limit": "0"}))[0] == 400


async def test_post_with_cookie_but_no_xsrf_is_refused(jp_fetch, jp_serverapp):
    # A browser-like request: no token header, a forged session cookie, no _xsrf: refused.
    reply = await jp_fetch(
        "maas",
        "api",
        "models",
        method="POST",
        body=json.dumps({"name": "m"}),
        headers={"Authorization": "", "Cookie": "username-x=forged"},
        raise_error=False,
    )
    assert reply.code == 403


async def test_unknown_route_is_json_404(api):
    status, error = await api("GET", "no", "such", "route")
    assert status == 404 and error["error"]["code"] == "not_found"


async def test_openapi_document_matches_the_routes(api):
    from maas_jupyter.api import routes
    from maas_jupyter.api.openapi import implemented, path_of

    status, doc = await api("GET", "openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    served = {}
    for pattern, handler in routes():
        served.setdefault(path_of(pattern), set()).update(implemented(handler))
    documented = {path: set(ops) for path, ops in doc["paths"].items()}
    served.pop("/openapi.json")
    documented.pop("/openapi.json", None)
    assert documented == served
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (path, method)
            params = {p["name"] for p in op["parameters"]}
            assert params == set(part[1:-1] for part in path.split("/") if part.startswith("{")), path
    # Every documented GET without path parameters answers.
    for path, ops in doc["paths"].items():
        if "get" in ops and "{" not in path:
            status, _ = await api("GET", *path.strip("/").split("/"))
            assert status == 200, path
