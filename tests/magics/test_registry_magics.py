"""%maas registry commands, each scenario against the in-process Platform and a real Jupyter server."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from IPython.core.error import UsageError


def maas(shell, line):
    return shell.run_line_magic("maas", line)


@pytest.fixture
def name():
    return "m-" + uuid.uuid4().hex[:8]  # the server body is shared by the tests of this module


def test_help_lists_every_command(shell, capsys):
    maas(shell, "help")
    out = capsys.readouterr().out
    for command in ["register", "models", "versions", "alias", "info", "history"]:
        assert f"%maas {command}" in out
    assert maas(shell, "register --help") is None
    assert "--name" in capsys.readouterr().out


def test_info_says_which_body(shell, body):
    info = maas(shell, "info")
    assert isinstance(info, pd.DataFrame)
    assert info.loc["mode", "value"] == ("server" if body else "in-process")
    if body:
        assert info.loc["home", "value"] == str(body.home)


def test_register_versions_alias(shell, body, name, make_onnx, tmp_path, capsys):
    shell.user_ns["model_a"] = make_onnx(seed=1)
    path = tmp_path / "second.onnx"
    path.write_bytes(make_onnx(seed=2))
    capsys.readouterr()
    assert maas(shell, f"register model_a --name {name} --description first") is None
    assert capsys.readouterr().out.startswith(f"registered {name}@1 (sha256 ")
    assert maas(shell, f"register {path} --name {name} --alias staging") is None
    line = capsys.readouterr().out
    assert line.startswith(f"registered {name}@2 (") and line.endswith(", alias staging)\n")
    assert "parent" not in line, "a file registered under an existing name says nothing of where it came from"
    listed = maas(shell, f"versions {name}")
    assert listed.loc[1, "source"] == "onnx" and listed.loc[2, "aliases"] == "staging"
    assert listed["parent_version"].isna().all()
    assert maas(shell, f"alias {name}@1 production") is None
    versions = maas(shell, f"versions {name}")
    assert list(versions.index) == [1, 2]
    assert versions.loc[1, "aliases"] == "production" and versions.loc[2, "aliases"] == "staging"
    assert versions.loc[1, "inputs"] == "x:FP32[-1, 4]"
    models = maas(shell, "models")
    assert models.loc[name, "latest_version"] == 2 and "production->1" in models.loc[name, "aliases"]
    history = maas(shell, f"history {name}")
    assert list(history["alias"]) == ["staging", "production"]
    maas(shell, f"alias {name}@2 production --reason better")
    assert maas(shell, f"versions {name}").loc[2, "aliases"] == "production, staging"


def test_register_uses_the_variable_name_by_default(shell, body, make_onnx):
    variable = "v_" + uuid.uuid4().hex[:6]
    shell.user_ns[variable] = make_onnx()
    maas(shell, f"register {variable}")
    assert list(maas(shell, f"versions {variable}").index) == [1]
    assert variable in maas(shell, "models").index


@pytest.mark.parametrize(
    "line, reason",
    [
        ("register nothing_here --name m", "not defined"),
        ("register model --name ../x", "not allowed"),
        ("register model --name a/b", "not allowed"),
        ("register model --name m --tags notjson", "JSON"),
        ("versions no-such-model", "does not exist"),
        ("alias no-such-model@1 production", "does not exist"),
        ("alias NAME production", "NAME@VERSION"),
        ("alias NAME@7 production", "no version 7"),
        ("alias NAME@1 42", "number"),
        ("frobnicate", "unknown command"),
        ("deploi NAME", "did you mean `%maas deploy`"),
        ("register mdel[:1] --name NAME", "name 'mdel' is not defined"),
        ("register", "required"),
        ("models --limit x", "invalid int"),
    ],
)
def test_bad_input_is_a_one_line_error_and_changes_nothing(shell, body, name, make_onnx, line, reason):
    shell.user_ns["model"] = make_onnx()
    maas(shell, f"register model --name {name}")
    before = maas(shell, f"versions {name}")
    with pytest.raises(UsageError, match=reason):
        maas(shell, line.replace("NAME", name))
    pd.testing.assert_frame_equal(maas(shell, f"versions {name}"), before)


def test_corrupt_onnx_is_refused(shell, body, name):
    shell.user_ns["junk"] = b"definitely not onnx"
    with pytest.raises(UsageError, match="not an ONNX model"):
        maas(shell, f"register junk --name {name}")
    with pytest.raises(UsageError, match="does not exist"):
        maas(shell, f"versions {name}")


def test_server_down_falls_back_to_in_process(shell, monkeypatch, capsys):
    monkeypatch.setenv("MAAS_JUPYTER_URL", "http://127.0.0.1:9/maas/api/")
    info = maas(shell, "info")
    assert info.loc["mode", "value"] == "in-process"
    assert "does not answer" in capsys.readouterr().err
