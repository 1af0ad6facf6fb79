"""%maas commands of the registry: help, info, register, models, versions, alias, history."""

from __future__ import annotations

from argparse import Namespace

import numpy as np
import pandas as pd

from ..errors import InvalidInput
from ..json_input import json_object
from .commands import COMMANDS, arg, command
from .context import MagicContext
from .render import frame, registered_line, split_ref, versions_frame


def reference_summary(x, model=None) -> dict:
    """The drift summary of training inputs, made before anything is stored so that bad data (NaN, text,
    a width the Keras model does not take) changes nothing."""
    from ..monitoring.drift import summarize

    summary = summarize(x)
    inputs = getattr(model, "inputs", None)
    if inputs and hasattr(model, "fit"):
        shapes = [tuple(t.shape[1:]) for t in inputs]
        if all(d is not None for shape in shapes for d in shape):
            width = sum(int(np.prod(shape)) for shape in shapes)
            if width != summary["features"]:
                raise InvalidInput(
                    f"the reference data has {summary['features']} features per row; the model takes {width}"
                )
    return summary


def _trained_run(ctx, model):
    """The run `%maas train` last finished on this model object, if its weights are still that run's (a
    plain `model.fit` since then makes a model no run describes)."""
    from .training_commands import weights_digest

    try:
        remembered = ctx.trained.get(model)
    except TypeError:  # bytes, a path: not weakly referenceable, never trained here
        return None
    if remembered is None:
        return None
    run, digest = remembered
    return run if digest is not None and digest == weights_digest(model) else None


@command("help", "List the %maas commands.")
def maas_help(ctx: MagicContext, args: Namespace) -> None:
    width = max(len(n) for n in COMMANDS)
    lines = ["%maas COMMAND [ARGS]   (%maas COMMAND --help shows its arguments)", ""]
    for name in sorted(COMMANDS):
        c = COMMANDS[name]
        lines.append(f"  {'%' if c.cell else ''}%maas {name.ljust(width)}  {c.summary}")
    print("\n".join(lines))


@command("info", "Where this notebook's models live and which server it talks to.")
def maas_info(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    info = ctx.service.info()
    info.setdefault("mode", "server" if ctx.service.remote else "in-process")
    return frame([{"key": k, "value": v} for k, v in info.items()], ["key", "value"], index="key")


@command(
    "register",
    "Register a Keras model or an ONNX file as the next version of a named model.",
    arg("model", help="a Keras model or ONNX bytes in the notebook, or the path of an .onnx file"),
    arg("--name", help="the model's name (default: the variable's name)"),
    arg("--alias", help="point this alias at the new version"),
    arg("--description", default="", help="what this version is"),
    arg("--sample", help="input data in the notebook for the Keras/ONNX parity check"),
    arg("--tolerance", type=float, help="largest allowed |Keras - ONNX| (default 1e-4)"),
    arg("--tags", help='JSON object of tags, e.g. \'{"team": "vision"}\''),
    arg("--parent", type=int, help="the version this one was derived from"),
    arg(
        "--reference",
        metavar="X",
        help="training inputs in the notebook: kept (as quantile bins) to measure input drift",
    ),
)
def maas_register(ctx: MagicContext, args: Namespace) -> None:
    if args.model in ctx.shell.user_ns or not args.model.endswith(".onnx"):
        model = ctx.variable(args.model)
        default_name = args.model
    else:
        model, default_name = args.model, args.model.rsplit("/", 1)[-1].removesuffix(".onnx")
    sample = ctx.variable(args.sample) if args.sample else None
    reference = reference_summary(ctx.variable(args.reference), model) if args.reference else None
    options = dict(
        sample=sample,
        tolerance=args.tolerance,
        alias=args.alias,
        description=args.description,
        tags=None if args.tags is None else json_object(args.tags, "--tags"),
    )
    run = _trained_run(ctx, model)
    if run is not None and args.parent is None:
        # Trained here by %maas train: the version points at that run, and the run (recorded by the
        # service, so linked there too) at the version.
        from ..training.register import register_trained

        version = register_trained(ctx.service, args.name or default_name, run, runs=ctx.service.runs, **options)
    else:
        version = ctx.service.register(args.name or default_name, model, parent_version=args.parent, **options)
    lineage = f", from run {run.run_id[:8]}: this model's last %maas train" if version.get("run_id") and run else ""
    kept = ""
    if reference is not None:
        ctx.service.set_reference_summary(version["name"], version["version"], reference)
        kept = f", drift reference {reference['rows']} rows x {reference['features']} features"
    print(registered_line(version) + lineage + kept)
    return None


@command(
    "load",
    "Load NAME[@V|@ALIAS] (registered from Keras) into the notebook as a Keras model.",
    arg("ref", help="NAME, NAME@VERSION or NAME@ALIAS (default: the latest version)"),
    arg("--as", dest="variable", help="the variable to assign (default: the model's name)"),
)
def maas_load(ctx: MagicContext, args: Namespace) -> None:
    name, ref = split_ref(args.ref)
    variable = args.variable or name.replace("-", "_").replace(".", "_")
    if not variable.isidentifier():
        raise InvalidInput(f"{variable!r} is not a Python variable name: give one with --as")
    model, version = ctx.service.origins.load_keras(ctx.service.registry, name, ref)
    ctx.shell.user_ns[variable] = model
    number = version["version"]
    print(f"{variable} = {name}@{number} (Keras); a version registered from it as {name} descends from v{number}")
    return None


@command(
    "models", "List the registered models.", arg("--offset", type=int, default=0), arg("--limit", type=int, default=100)
)
def maas_models(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    page = ctx.service.registry.list_models(args.offset, args.limit)
    rows = [{**m, "aliases": ", ".join(f"{a}->{v}" for a, v in sorted(m["aliases"].items()))} for m in page["items"]]
    return frame(
        rows,
        ["name", "latest_version", "version_count", "aliases", "description", "created_at", "updated_at"],
        index="name",
    )


@command(
    "versions",
    "List the versions of a model, with aliases, signature and lineage.",
    arg("name", help="the model's name"),
    arg("--offset", type=int, default=0),
    arg("--limit", type=int, default=100),
)
def maas_versions(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    return versions_frame(ctx.service.registry.list_versions(args.name, args.offset, args.limit)["items"])


@command(
    "alias",
    "Point an alias (production, staging, any word) at a version: %maas alias NAME@V ALIAS.",
    arg("ref", help="NAME@VERSION (or NAME@OTHER_ALIAS)"),
    arg("alias", help="the alias to set or move"),
    arg("--reason", default="", help="why, for the history"),
    arg("--delete", action="store_true", help="remove the alias instead"),
)
def maas_alias(ctx: MagicContext, args: Namespace) -> None:
    name, ref = split_ref(args.ref)
    if args.delete:
        ctx.service.registry.delete_alias(name, args.alias, reason=args.reason)
        print(f"removed alias {name}@{args.alias}")
        return None
    if ref is None:
        raise InvalidInput("write NAME@VERSION: which version should the alias point at?")
    version = ctx.service.registry.set_alias(name, args.alias, ref, reason=args.reason)
    print(f"{name}@{args.alias} -> version {version['version']}")
    return None


@command(
    "history",
    "What an alias or an endpoint pointed at, from when to when, changed by whom and why.",
    arg("name", help="a model name or an endpoint name"),
)
def maas_history(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    items = ctx.service.registry.history(args.name)
    return frame(
        items,
        ["at", "kind", "action", "alias", "from", "to", "model", "version", "canary", "weight", "actor", "reason"],
    )
