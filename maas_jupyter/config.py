"""Every MAAS_* setting, declared once (TABLE): its environment variable, type, default, meaning and the
`maas` flag that wins over it. `Settings.from_env()` reads them all into one typed object, refusing a
value that does not fit with the variable's name and what it wants; scripts/config_reference.py prints
the README's table from the same declaration.

Nothing else reads a MAAS_* variable from the environment (tests/test_config.py scans for it), save the
magics' connect(), which reads the two the Jupyter extension sets for its kernels by their ENV_* names.
Code that starts a process of ours sets its variables through the ENV_* names below.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput

KINDS = ("int", "float", "bool", "choice", "path", "text")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Setting:
    """One setting: an environment variable, how to read it, and what it is for."""

    name: str  # the environment variable; Settings has it as `attribute`
    kind: str  # one of KINDS
    default: Any  # when the variable is unset or blank
    description: str  # one line, Markdown
    flag: str | None = None  # the `maas` option that wins over the variable
    flag_scope: str = "serve"  # which commands take `flag`: "serve", "clients" (all but serve) or "all"
    choices: tuple[str, ...] = ()  # kind "choice": the values allowed (read in lower case)
    at_least: float | None = None  # numbers: the smallest value allowed
    above: float | None = None  # numbers: values must be greater than this
    shown: str | None = None  # the default as the README shows it, where the value alone says too little
    internal: bool = False  # set by maas itself for a process of its own, not by hand
    secret: bool = False  # kept out of Settings' repr

    @property
    def attribute(self) -> str:
        """The Settings attribute: the name without MAAS_, in lower case."""
        return self.name.removeprefix("MAAS_").lower()

    def wants(self) -> str:
        """What a value must be, in words (for errors)."""
        if self.kind == "bool":
            return f"one of {', '.join(TRUE_WORDS + FALSE_WORDS)}"
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind in ("int", "float"):
            words = "a whole number" if self.kind == "int" else "a number"
            if self.above is not None:
                return f"{words} above {_number(self.above)}"
            if self.at_least is not None:
                return f"{words} of at least {_number(self.at_least)}"
            return words
        return "a path" if self.kind == "path" else "text"

    def convert(self, text: str) -> Any:
        """The value `text` stands for; ValueError when it is not one this setting takes."""
        text = text.strip() if self.kind != "text" else text
        if self.kind == "text":
            return text
        if self.kind == "path":
            return Path(text).expanduser()
        if self.kind in ("bool", "choice"):
            word = text.lower()
            if self.kind == "bool" and word in TRUE_WORDS + FALSE_WORDS:
                return word in TRUE_WORDS
            if self.kind == "choice" and word in self.choices:
                return word
            raise ValueError(text)
        value = int(text) if self.kind == "int" else float(text)
        if (
            not math.isfinite(value)
            or (self.above is not None and value <= self.above)
            or (self.at_least is not None and value < self.at_least)
        ):
            raise ValueError(text)
        return value

    def parse(self, text: str) -> Any:
        """convert(), with an InvalidInput that names the variable and what it wants."""
        try:
            return self.convert(text)
        except ValueError:
            raise InvalidInput(f"{self.name} must be {self.wants()}; it is {text!r}") from None

    def read(self, environ: Mapping[str, str]) -> Any:
        """The setting's value in `environ`: the default when the variable is unset or blank."""
        text = environ.get(self.name)
        if text is None or not text.strip():
            return self.default
        return self.parse(text)

    def default_text(self) -> str:
        """The default as the README and `--help` show it (Markdown)."""
        if self.shown is not None:
            return self.shown
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return f"`{int(self.default)}`"
        return f"`{_number(self.default) if isinstance(self.default, float) else self.default}`"


def _number(value: float) -> str:
    return f"{value:g}"


# The names code uses when it sets a variable for a process of its own.
ENV_HOME = "MAAS_HOME"
ENV_DATABASE_URL = "MAAS_DATABASE_URL"
ENV_TOKEN = "MAAS_TOKEN"
ENV_REGISTRY_EVENTS_S = "MAAS_REGISTRY_EVENTS_S"
ENV_PARENT_PID = "MAAS_PARENT_PID"
# Set by the Jupyter server extension in its own environment, so kernels it starts inherit them:
# that is how `%maas` in a notebook finds the server's REST API and token with nothing to configure.
ENV_JUPYTER_URL = "MAAS_JUPYTER_URL"
ENV_JUPYTER_TOKEN = "MAAS_JUPYTER_TOKEN"

TABLE: dict[str, Setting] = {
    setting.name: setting
    for setting in (
        # where state lives
        Setting(
            ENV_HOME,
            "path",
            Path("~/.maas"),
            "registry database (`registry.db`, SQLite in WAL mode), content-addressed artifacts "
            "(`artifacts/sha256/ab/abcd…`), job directories and `serve.json`",
        ),
        Setting(
            ENV_DATABASE_URL,
            "text",
            None,
            "any SQLAlchemy URL; PostgreSQL (`postgresql+psycopg://…`) is supported",
            shown="SQLite in `MAAS_HOME`",
        ),
        Setting(
            "MAAS_PARITY_TOLERANCE",
            "float",
            1e-4,
            "largest absolute Keras/ONNX difference allowed at registration",
            at_least=0,
            shown="`1e-4`",
        ),
        Setting(
            "MAAS_MAX_UPLOAD_BYTES",
            "int",
            512 * MIB,
            "upload limit of the registry API (413 above it)",
            at_least=1,
            shown="512 MiB",
        ),
        # where endpoints and jobs run
        Setting(
            "MAAS_BACKEND",
            "choice",
            "local",
            "where endpoints and training jobs run: processes on this machine, or a Ray cluster",
            choices=("local", "ray"),
        ),
        Setting(
            "MAAS_RAY_ADDRESS",
            "text",
            None,
            "`HOST:PORT` of the Ray cluster's head, for the `ray` backend",
            shown="a private single-node Ray on loopback",
        ),
        Setting(
            "MAAS_MAX_CONCURRENT_JOBS", "int", 1, "training jobs running at once; more wait in the queue", at_least=1
        ),
        Setting(
            "MAAS_JOB_CANCEL_GRACE_S",
            "float",
            10.0,
            "seconds between SIGTERM and SIGKILL when a running job is cancelled",
            at_least=0,
        ),
        # `maas serve`
        Setting(
            "MAAS_MAX_REQUEST_BYTES",
            "int",
            64 * MIB,
            "largest inference request body or gRPC message (413 / `RESOURCE_EXHAUSTED`)",
            flag="--max-request-bytes",
            at_least=1,
            shown="64 MiB",
        ),
        Setting(
            "MAAS_BODY_TIMEOUT_S",
            "float",
            60.0,
            "seconds a request body may take to arrive",
            flag="--body-timeout",
            above=0,
        ),
        Setting(
            "MAAS_INTRA_OP_THREADS",
            "int",
            1,
            "ONNX Runtime threads per model run (0: ONNX Runtime decides)",
            flag="--intra-op-threads",
            at_least=0,
        ),
        Setting("MAAS_METRICS", "bool", True, "`0` serves without recording metrics, sampling inputs or the SLO guard"),
        Setting("MAAS_SLO_INTERVAL_S", "float", 1.0, "seconds between SLO guard passes over the canaries", above=0),
        Setting(
            ENV_REGISTRY_EVENTS_S,
            "float",
            0.5,
            "how often a server looks for registry changes to publish (`0`: never)",
            at_least=0,
        ),
        # who talks to whom
        Setting(
            ENV_TOKEN,
            "text",
            None,
            "bearer token `maas serve` requires on every route (without one it generates one and keeps it "
            "in `MAAS_HOME/serve.json`); also what the `maas` commands send",
            flag="--token",
            flag_scope="all",
            shown="generated",
            secret=True,
        ),
        Setting(
            "MAAS_URL",
            "text",
            None,
            "the `maas serve` the `maas` commands talk to",
            flag="--url",
            flag_scope="clients",
            shown="`MAAS_HOME/serve.json`, else `http://127.0.0.1:8080`",
        ),
        Setting(
            "MAAS_MODE",
            "choice",
            "auto",
            "`auto`: the magics use the Jupyter server's API in a kernel it started, else work in-process; "
            "`local`: in-process all the same",
            choices=("auto", "local"),
        ),
        # set by maas itself
        Setting(
            ENV_JUPYTER_URL,
            "text",
            None,
            "the Jupyter server's maas API, for the kernels it starts (how `%maas` finds the server)",
            shown="set by the Jupyter extension",
            internal=True,
        ),
        Setting(
            ENV_JUPYTER_TOKEN,
            "text",
            None,
            "the Jupyter server's token, for the kernels it starts",
            shown="set by the Jupyter extension",
            internal=True,
            secret=True,
        ),
        Setting(
            ENV_PARENT_PID,
            "int",
            None,
            "the process supervising a `maas serve` child, which stops once that process is gone",
            shown="set by the supervisor",
            internal=True,
            at_least=1,
        ),
    )
}


def _default(name: str) -> Any:
    return TABLE[name].default


@dataclass(frozen=True)
class Settings:
    """Typed settings of one Platform and the processes around it: one attribute per row of TABLE."""

    home: Path
    database_url: str
    parity_tolerance: float = _default("MAAS_PARITY_TOLERANCE")
    max_upload_bytes: int = _default("MAAS_MAX_UPLOAD_BYTES")
    backend: str = _default("MAAS_BACKEND")  # "local" or "ray" (maas_jupyter.backends)
    ray_address: str | None = _default("MAAS_RAY_ADDRESS")  # None: the ray backend starts a private cluster
    max_concurrent_jobs: int = _default("MAAS_MAX_CONCURRENT_JOBS")
    job_cancel_grace_s: float = _default("MAAS_JOB_CANCEL_GRACE_S")
    max_request_bytes: int = _default("MAAS_MAX_REQUEST_BYTES")
    body_timeout_s: float = _default("MAAS_BODY_TIMEOUT_S")
    intra_op_threads: int = _default("MAAS_INTRA_OP_THREADS")
    metrics: bool = _default("MAAS_METRICS")
    slo_interval_s: float = _default("MAAS_SLO_INTERVAL_S")
    registry_events_s: float = _default(ENV_REGISTRY_EVENTS_S)
    token: str | None = field(default=_default(ENV_TOKEN), repr=False)
    url: str | None = _default("MAAS_URL")
    mode: str = _default("MAAS_MODE")
    jupyter_url: str | None = _default(ENV_JUPYTER_URL)
    jupyter_token: str | None = field(default=_default(ENV_JUPYTER_TOKEN), repr=False)
    parent_pid: int | None = _default(ENV_PARENT_PID)

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def registry_events_interval(self) -> float | None:
        """Seconds between the registry watcher's passes; None when registry events are off."""
        return self.registry_events_s if self.registry_events_s > 0 else None

    @classmethod
    def from_env(
        cls,
        home: str | os.PathLike | None = None,
        database_url: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Every setting of TABLE from `environ` (default: this process's environment); `home` and
        `database_url`, when given, win over MAAS_HOME and MAAS_DATABASE_URL. InvalidInput names the
        first variable whose value does not fit."""
        environ = os.environ if environ is None else environ
        values = {setting.attribute: setting.read(environ) for setting in TABLE.values()}
        values["home"] = Path(home or values["home"]).expanduser().resolve()
        values["database_url"] = database_url or values["database_url"] or f"sqlite:///{values['home'] / 'registry.db'}"
        return cls(**values)


def setting(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting, read now: for code that has no Settings at hand (Settings.from_env() would read, and
    check, every other variable too)."""
    return TABLE[name].read(os.environ if environ is None else environ)
