"""The settings' one definition (maas_jupyter.config): defaults, every type read, bad values refused with the
variable's name, the `maas` flags that win over their variables, and no MAAS_* variable read anywhere else."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

from maas_jupyter import cli, config
from maas_jupyter.config import KINDS, TABLE, Settings, setting
from maas_jupyter.errors import InvalidInput

PACKAGE = Path(config.__file__).resolve().parent


# ---- the table and Settings ------------------------------------------------------------------------


def test_settings_has_one_attribute_per_row_with_the_rows_default():
    attributes = {f.name: f for f in dataclasses.fields(Settings)}
    assert set(attributes) == {row.attribute for row in TABLE.values()}
    for row in TABLE.values():
        if row.attribute not in ("home", "database_url"):  # computed by from_env, no default of their own
            assert attributes[row.attribute].default == row.default, row.name
        assert attributes[row.attribute].repr is not row.secret, f"{row.name}: secrets stay out of repr"


def test_every_row_is_well_formed():
    for name, row in TABLE.items():
        assert name == row.name and name.startswith("MAAS_") and row.kind in KINDS
        assert row.description and "\n" not in row.description
        assert (row.kind == "choice") == bool(row.choices), name
        assert row.flag is None or (row.flag.startswith("--") and row.flag_scope in ("serve", "clients", "all"))
        if row.default is not None and row.kind in ("int", "float", "bool", "choice"):
            text = str(int(row.default)) if row.kind == "bool" else str(row.default)
            assert row.convert(text) == row.default, f"{name}: its default is not a value it accepts"


def test_defaults_with_nothing_set():
    settings = Settings.from_env(environ={})
    home = (Path.home() / ".maas").resolve()
    assert settings.home == home and settings.database_url == f"sqlite:///{home / 'registry.db'}"
    expected = {
        "parity_tolerance": 1e-4,
        "max_upload_bytes": 512 * 1024 * 1024,
        "backend": "local",
        "ray_address": None,
        "max_concurrent_jobs": 1,
        "job_cancel_grace_s": 10.0,
        "max_request_bytes": 64 * 1024 * 1024,
        "body_timeout_s": 60.0,
        "intra_op_threads": 1,
        "metrics": True,
        "slo_interval_s": 1.0,
        "registry_events_s": 0.5,
        "token": None,
        "url": None,
        "mode": "auto",
        "jupyter_url": None,
        "jupyter_token": None,
        "parent_pid": None,
    }
    assert {key: getattr(settings, key) for key in expected} == expected
    assert settings.registry_events_interval == 0.5


def test_defaults_are_those_of_the_code_that_uses_them():
    from maas_jupyter.backends import BACKENDS
    from maas_jupyter.registry.changes import DEFAULT_INTERVAL_S
    from maas_jupyter.serving.app import ServeOptions

    settings, options = Settings.from_env(environ={}), ServeOptions()
    assert (settings.max_request_bytes, settings.body_timeout_s, settings.intra_op_threads) == (
        options.max_request_bytes,
        options.body_timeout_s,
        options.intra_op_threads,
    )
    assert settings.registry_events_s == DEFAULT_INTERVAL_S
    assert BACKENDS == ("local", "ray") == TABLE["MAAS_BACKEND"].choices


@pytest.mark.parametrize(
    "name, text, attribute, value",
    [
        ("MAAS_MAX_CONCURRENT_JOBS", " 4 ", "max_concurrent_jobs", 4),
        ("MAAS_MAX_UPLOAD_BYTES", "1000", "max_upload_bytes", 1000),
        ("MAAS_INTRA_OP_THREADS", "0", "intra_op_threads", 0),
        ("MAAS_PARENT_PID", "4242", "parent_pid", 4242),
        ("MAAS_JOB_CANCEL_GRACE_S", "2.5", "job_cancel_grace_s", 2.5),
        ("MAAS_PARITY_TOLERANCE", "1e-3", "parity_tolerance", 1e-3),
        ("MAAS_REGISTRY_EVENTS_S", "0", "registry_events_s", 0.0),
        ("MAAS_METRICS", "off", "metrics", False),
        ("MAAS_METRICS", "0", "metrics", False),
        ("MAAS_METRICS", "Yes", "metrics", True),
        ("MAAS_BACKEND", " RAY ", "backend", "ray"),
        ("MAAS_MODE", "Local", "mode", "local"),
        ("MAAS_RAY_ADDRESS", "head:6379", "ray_address", "head:6379"),
        ("MAAS_DATABASE_URL", "postgresql+psycopg://maas@db/maas", "database_url", "postgresql+psycopg://maas@db/maas"),
        ("MAAS_TOKEN", "t0ken", "token", "t0ken"),
        ("MAAS_URL", "http://serve:8080", "url", "http://serve:8080"),
        ("MAAS_HOME", "~/maas-config-test", "home", (Path.home() / "maas-config-test").resolve()),
    ],
)
def test_each_type_is_read(name, text, attribute, value):
    assert getattr(Settings.from_env(environ={name: text}), attribute) == value
    if name != "MAAS_HOME":  # from_env resolves the home; setting() gives the path as written, user expanded
        assert setting(name, {name: text}) == value


def test_registry_events_at_zero_are_off():
    assert Settings.from_env(environ={"MAAS_REGISTRY_EVENTS_S": "0"}).registry_events_interval is None
    assert Settings.from_env(environ={"MAAS_REGISTRY_EVENTS_S": "0.2"}).registry_events_interval == 0.2


@pytest.mark.parametrize(
    "name, text, wants",
    [
        ("MAAS_MAX_CONCURRENT_JOBS", "abc", "a whole number of at least 1"),
        ("MAAS_MAX_CONCURRENT_JOBS", "0", "a whole number of at least 1"),
        ("MAAS_MAX_UPLOAD_BYTES", "1.5", "a whole number of at least 1"),
        ("MAAS_INTRA_OP_THREADS", "-1", "a whole number of at least 0"),
        ("MAAS_PARENT_PID", "self", "a whole number of at least 1"),
        ("MAAS_JOB_CANCEL_GRACE_S", "-1", "a number of at least 0"),
        ("MAAS_PARITY_TOLERANCE", "nan", "a number of at least 0"),
        ("MAAS_BODY_TIMEOUT_S", "0", "a number above 0"),
        ("MAAS_SLO_INTERVAL_S", "inf", "a number above 0"),
        ("MAAS_REGISTRY_EVENTS_S", "often", "a number of at least 0"),
        ("MAAS_METRICS", "maybe", "one of 1, true, yes, on, 0, false, no, off"),
        ("MAAS_BACKEND", "kubernetes", "one of local, ray"),
        ("MAAS_MODE", "server", "one of auto, local"),
    ],
)
def test_bad_values_are_refused_with_the_variables_name(name, text, wants):
    message = f"{name} must be {wants}; it is {text!r}"
    for read in (lambda: Settings.from_env(environ={name: text}), lambda: setting(name, {name: text})):
        with pytest.raises(InvalidInput) as refused:
            read()
        assert refused.value.message == message


def test_a_blank_variable_is_an_unset_one():
    blank = {row.name: "  " for row in TABLE.values()}
    assert Settings.from_env(environ=blank) == Settings.from_env(environ={})


def test_arguments_win_over_home_and_database_url(tmp_path):
    environ = {"MAAS_HOME": str(tmp_path / "elsewhere"), "MAAS_DATABASE_URL": "sqlite:///elsewhere.db"}
    settings = Settings.from_env(tmp_path / "home", "sqlite:///given.db", environ=environ)  # positional, as callers do
    assert (settings.home, settings.database_url) == ((tmp_path / "home").resolve(), "sqlite:///given.db")
    home_only = Settings.from_env(home=tmp_path / "home", environ={})
    assert home_only.database_url == f"sqlite:///{(tmp_path / 'home').resolve() / 'registry.db'}"


def test_secrets_stay_out_of_the_repr():
    settings = Settings.from_env(environ={"MAAS_TOKEN": "s3cret-serve", "MAAS_JUPYTER_TOKEN": "s3cret-lab"})
    assert settings.token == "s3cret-serve" and settings.jupyter_token == "s3cret-lab"
    assert "s3cret" not in repr(settings)


def test_setting_knows_only_the_tables_names():
    with pytest.raises(KeyError):
        setting("MAAS_NO_SUCH_THING", {})


def test_platform_refuses_a_bad_value_from_the_environment(maas_home, monkeypatch):
    from maas_jupyter.platform import Platform

    monkeypatch.setenv("MAAS_MAX_CONCURRENT_JOBS", "abc")
    with pytest.raises(InvalidInput, match="MAAS_MAX_CONCURRENT_JOBS must be a whole number of at least 1"):
        Platform()
    assert not maas_home.exists()  # refused before anything was created


def test_the_job_runner_takes_its_queue_and_grace_from_the_settings(platform):
    from maas_jupyter.training.jobs import JobRunner

    settings = dataclasses.replace(platform.settings, max_concurrent_jobs=3, job_cancel_grace_s=2.5)
    runner = JobRunner(settings, platform.db, platform.events, recover=False)
    given = JobRunner(settings, platform.db, platform.events, max_concurrent=2, cancel_grace_s=0, recover=False)
    try:
        assert (runner.max_concurrent, runner.cancel_grace_s) == (3, 2.5)
        assert (given.max_concurrent, given.cancel_grace_s) == (2, 0.0)  # arguments win, 0 included
    finally:
        runner.close()
        given.close()


def test_the_magics_read_maas_mode(maas_home, monkeypatch):
    from maas_jupyter.magics.context import InProcessBody, connect

    monkeypatch.setenv("MAAS_JUPYTER_URL", "http://127.0.0.1:9/maas/api")  # a server that is not there
    monkeypatch.setenv("MAAS_MODE", "jupyter")
    with pytest.raises(InvalidInput, match="MAAS_MODE must be one of auto, local; it is 'jupyter'"):
        connect()
    monkeypatch.setenv("MAAS_MODE", "LOCAL")
    body = connect()  # in-process at once: the server is not even asked
    try:
        assert isinstance(body, InProcessBody) and body.platform.settings.home == maas_home.resolve()
    finally:
        body.close()


# ---- the command line ----------------------------------------------------------------------------


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_each_flag_of_the_table_is_taken_by_the_commands_it_names():
    commands = _commands()
    flagged = [row for row in TABLE.values() if row.flag]
    assert {row.name for row in flagged} >= {
        "MAAS_MAX_REQUEST_BYTES",
        "MAAS_BODY_TIMEOUT_S",
        "MAAS_INTRA_OP_THREADS",
        "MAAS_TOKEN",
        "MAAS_URL",
    }
    for row in flagged:
        takers = {name for name, parser in commands.items() if row.flag in parser._option_string_actions}
        expected = {"serve": {"serve"}, "clients": set(commands) - {"serve"}, "all": set(commands)}[row.flag_scope]
        assert takers == expected, row.name
        if row.flag_scope == "serve":
            assert row.name in commands["serve"].format_help()  # --help says which variable it overrides


def test_serve_flags_win_over_their_variables(tmp_path):
    parser = cli.build_parser()
    settings = Settings.from_env(
        home=tmp_path,
        environ={"MAAS_MAX_REQUEST_BYTES": "1000", "MAAS_BODY_TIMEOUT_S": "9", "MAAS_INTRA_OP_THREADS": "3"},
    )
    from_variables = cli.serve_options(parser.parse_args(["serve"]), settings, None)
    assert (from_variables.max_request_bytes, from_variables.body_timeout_s, from_variables.intra_op_threads) == (
        1000,
        9.0,
        3,
    )
    flags = parser.parse_args(
        ["serve", "--max-request-bytes", "2000", "--body-timeout", "5", "--intra-op-threads", "0"]
    )
    from_flags = cli.serve_options(flags, settings, "tok")
    assert (from_flags.max_request_bytes, from_flags.body_timeout_s, from_flags.intra_op_threads) == (2000, 5.0, 0)
    assert from_flags.token == "tok"
    defaults = cli.serve_options(parser.parse_args(["serve"]), Settings.from_env(home=tmp_path, environ={}), None)
    assert (defaults.max_request_bytes, defaults.body_timeout_s, defaults.intra_op_threads) == (
        64 * 1024 * 1024,
        60.0,
        1,
    )


@pytest.mark.parametrize(
    "flag, value, wants",
    [
        ("--body-timeout", "0", "a number above 0"),
        ("--max-request-bytes", "lots", "a whole number of at least 1"),
        ("--intra-op-threads", "-2", "a whole number of at least 0"),
    ],
)
def test_flag_values_are_checked_like_their_variables(flag, value, wants, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.build_parser().parse_args(["serve", flag, value])
    assert stopped.value.code == 2
    assert f"argument {flag}: must be {wants}, not {value!r}" in capsys.readouterr().err


def test_client_flags_win_over_their_variables(tmp_path):
    parser = cli.build_parser()
    settings = Settings.from_env(home=tmp_path, environ={"MAAS_URL": "http://env:1", "MAAS_TOKEN": "env-token"})
    assert cli.client_target(parser.parse_args(["models"]), settings) == ("http://env:1", "env-token")
    given = parser.parse_args(["models", "--url", "http://flag:2", "--token", "flag-token"])
    assert cli.client_target(given, settings) == ("http://flag:2", "flag-token")
    nothing = Settings.from_env(home=tmp_path, environ={})  # no serve.json in this home either
    assert cli.client_target(parser.parse_args(["models"]), nothing) == (cli.DEFAULT_URL, None)


def test_maas_serve_reads_its_token_from_the_settings(maas_home, monkeypatch, capsys):
    monkeypatch.setenv("MAAS_TOKEN", "from-the-environment")
    assert cli.main(["serve", "--no-token"]) == 2  # refused before anything starts
    assert "contradict" in capsys.readouterr().err


def test_a_bad_variable_ends_a_command_with_its_reason(maas_home, monkeypatch):
    monkeypatch.setenv("MAAS_BODY_TIMEOUT_S", "soon")
    for argv in (["models"], ["serve"]):
        with pytest.raises(SystemExit) as stopped:
            cli.main(argv)
        assert stopped.value.code == "maas: MAAS_BODY_TIMEOUT_S must be a number above 0; it is 'soon'"


# ---- nobody else reads the environment for MAAS_* --------------------------------------------------

# Still read by their config names (ENV_JUPYTER_URL/ENV_JUPYTER_TOKEN) in the magics' connect().
NOT_YET_SETTINGS = {("magics/context.py", "MAAS_JUPYTER_URL"), ("magics/context.py", "MAAS_JUPYTER_TOKEN")}


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def environment_reads(source: str) -> list[tuple[int, str]]:
    """(line, variable) of every MAAS_* variable `source` reads from an environment: os.environ[...],
    os.environ.get(...), os.getenv(...), `... in os.environ`, or any mapping named *environ read the same
    ways; the name written out, or a constant of the module's own or of maas_jupyter.config."""
    tree = ast.parse(source)
    names = {}  # module-level NAME = "literal", and names imported from config
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names.update({target.id: node.value.value for target in node.targets if isinstance(target, ast.Name)})
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "config":
            for alias in node.names:
                value = getattr(config, alias.name, None)
                if isinstance(value, str):
                    names[alias.asname or alias.name] = value

    def variable(node) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return names.get(node.id)
        if isinstance(node, ast.Attribute) and _dotted(node.value).split(".")[-1] == "config":
            value = getattr(config, node.attr, None)
            return value if isinstance(value, str) else None
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            return str(node.values[0].value)
        return None

    def environ(node) -> bool:
        return _dotted(node).split(".")[-1].endswith("environ")

    reads = []
    for node in ast.walk(tree):
        keys = []
        if isinstance(node, ast.Call) and node.args:
            function = node.func
            if _dotted(function) in ("os.getenv", "getenv") or (
                isinstance(function, ast.Attribute)
                and function.attr in ("get", "__getitem__")
                and environ(function.value)
            ):
                keys.append(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and environ(node.value):
            keys.append(node.slice)
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], (ast.In, ast.NotIn))
            and environ(node.comparators[0])
        ):
            keys.append(node.left)
        for key in keys:
            name = variable(key)
            if name is not None and name.startswith("MAAS_"):
                reads.append((node.lineno, name))
    return reads


def test_the_scan_finds_each_way_of_reading():
    source = """import os
from os import environ, getenv
from ..config import ENV_HOME
from .. import config
LOCAL = 'MAAS_LOCAL'
a = os.environ.get('MAAS_A', '1')
b = os.environ['MAAS_B']
c = os.getenv('MAAS_C')
d = getenv(LOCAL)
e = environ.get(ENV_HOME)
f = os.environ.get(config.ENV_TOKEN)
g = 'MAAS_G' in os.environ
def h(environ=os.environ):
    return environ.get(f'MAAS_{1}')
os.environ['MAAS_SET'] = '1'  # setting a variable (for a child) is no read
child = {**os.environ, 'MAAS_CHILD': '0'}
x = os.environ.get('HOME')
"""
    assert sorted(environment_reads(source)) == [
        (6, "MAAS_A"),
        (7, "MAAS_B"),
        (8, "MAAS_C"),
        (9, "MAAS_LOCAL"),
        (10, "MAAS_HOME"),
        (11, "MAAS_TOKEN"),
        (12, "MAAS_G"),
        (14, "MAAS_"),
    ]


def test_no_module_but_config_reads_a_maas_variable_from_the_environment():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "config.py":
            continue
        found += [
            f"{relative}:{line}: {name}"
            for line, name in environment_reads(path.read_text())
            if (relative, name) not in NOT_YET_SETTINGS
        ]
    assert not found, "read these through maas_jupyter.config (Settings, or setting()):\n" + "\n".join(found)


def test_setting_is_asked_only_for_names_of_the_table():
    asked = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        imported = any(
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[-1] == "config"
            and any(alias.name == "setting" for alias in node.names)
            for node in ast.walk(tree)
        )
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and (_dotted(node.func) == "config.setting" or (imported and _dotted(node.func) == "setting"))
            ):
                asked.append(node.args[0].value)
                assert node.args[0].value in TABLE, f"{path}: setting({node.args[0].value!r})"
    assert "MAAS_MODE" in asked
