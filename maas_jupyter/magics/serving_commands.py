"""%maas commands of serving: deploy, endpoints, predict, promote, rollback, undeploy."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

import numpy as np
import pandas as pd

from ..backends import add_scaling_arguments, deploy_scaled, scaling_options
from ..errors import InvalidInput
from ..names import check_name
from ..registry.keras_to_onnx import is_keras_model
from .commands import arg, command
from .context import MagicContext
from .render import frame, split_ref


def _endpoints_frame(items: list[dict]):
    rows = []
    for e in items:
        canary = e.get("canary") or {}
        rows.append({**e, "canary_version": canary.get("version"), "canary_weight": canary.get("weight")})
    return frame(
        rows,
        [
            "name",
            "model",
            "state",
            "version",
            "previous_version",
            "canary_version",
            "canary_weight",
            "max_batch_size",
            "max_queue_delay_ms",
            "error",
            "updated_at",
        ],
        index="name",
    )


def _deployable(ctx, target: str):
    """A Keras model, ONNX bytes or an .onnx path named by `target` in the notebook, else None."""
    if "@" in target:
        return None
    value = ctx.shell.user_ns.get(target)
    if is_keras_model(value) or isinstance(value, (bytes, bytearray)):
        return value
    return None


@command(
    "deploy",
    "Deploy NAME[@V|@ALIAS] (or a model variable) as an endpoint; --canary ENDPOINT --weight P for a canary.",
    arg("target", help="NAME, NAME@VERSION, NAME@ALIAS, or a Keras model / ONNX bytes in the notebook"),
    arg("--as", dest="endpoint", help="the endpoint's name (default: the model's name)"),
    arg("--name", help="with a model variable: the registered model's name (default: the variable's)"),
    arg("--max-batch", type=int, help="largest merged batch (1 turns batching off)"),
    arg("--max-delay-ms", type=float, help="longest wait for a batch to fill, in milliseconds"),
    arg("--canary", metavar="ENDPOINT", help="send part of ENDPOINT's traffic to this version"),
    arg("--weight", type=float, help="the canary's share of traffic, in percent"),
    arg("--reason", default="", help="why, for the history"),
    add_scaling_arguments,
)
def maas_deploy(ctx: MagicContext, args: Namespace) -> None:
    model_object = _deployable(ctx, args.target)
    registered = ""
    ref: str | None
    if model_object is not None:
        version = ctx.service.register(args.name or args.target, model_object)
        name, ref = version["name"], str(version["version"])
        registered = f" (registered {name}@{ref} from {args.target}, sha256 {version['sha256'][:12]})"
    else:
        if args.name:
            raise InvalidInput("--name goes with a model variable; for a registered model write NAME@VERSION")
        name, ref = split_ref(args.target)
        check_name(name, "model name")
    deployments = ctx.service.deployments
    if args.canary:
        if args.weight is None:
            raise InvalidInput("--canary needs --weight PERCENT")
        if ref is None:
            raise InvalidInput("--canary needs NAME@VERSION: which version takes the canary traffic?")
        endpoint = deployments.canary(args.canary, ref, args.weight, reason=args.reason)
        print(
            f"{args.canary}: canary {name}@{ref} takes {args.weight:g}% of requests, "
            f"{name}@{endpoint.get('version')} the rest{registered}"
        )
    else:
        if args.weight is not None:
            raise InvalidInput("--weight goes with --canary ENDPOINT")
        target = args.endpoint or name
        endpoint = deploy_scaled(
            deployments,
            target,
            name,
            ref,
            scaling_options(vars(args)),
            max_batch_size=args.max_batch,
            max_queue_delay_ms=args.max_delay_ms,
            reason=args.reason,
        )
        print(f"{target}: serving {name}@{endpoint.get('version')}, {endpoint.get('state')}{registered}")
    return None


@command("endpoints", "List the endpoints: state, versions, canary, batching.")
def maas_endpoints(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    return _endpoints_frame(ctx.service.deployments.list())


@command(
    "predict",
    "Run data through an endpoint: %maas predict ENDPOINT X (X a numpy array or DataFrame).",
    arg("endpoint", help="ENDPOINT or ENDPOINT@VERSION (a specific version, canary included)"),
    # nargs="+": an expression such as x_test[:, :10] holds spaces; its words are joined back.
    arg("data", nargs="+", help="an expression in the notebook: x_test[:5], df, {'input': x}"),
)
def maas_predict(ctx: MagicContext, args: Namespace) -> Any:
    endpoint, version = split_ref(args.endpoint)
    check_name(endpoint, "endpoint name")
    expression = " ".join(args.data)
    data = ctx.variable(expression)
    if not isinstance(data, dict) and not hasattr(data, "to_numpy"):
        try:
            data = np.asarray(data)
        except Exception as exc:
            raise InvalidInput(f"{expression} is not array-like: {exc}") from None
    outputs = ctx.service.deployments.predict(endpoint, data, version=version)
    return next(iter(outputs.values())) if len(outputs) == 1 else outputs


# rollback, promote and undeploy take the same arguments and say what the endpoint serves afterwards.
_ENDPOINT_ACTION = (
    arg("endpoint", help="the endpoint's name"),
    arg("--reason", default="", help="why, for the history"),
)


@command("rollback", "Return an endpoint to the version it served before, in one step.", *_ENDPOINT_ACTION)
def maas_rollback(ctx: MagicContext, args: Namespace) -> None:
    check_name(args.endpoint, "endpoint name")
    _say_what_serves(args.endpoint, "rollback", ctx.service.deployments.rollback(args.endpoint, reason=args.reason))


@command("promote", "Make an endpoint's canary its primary version.", *_ENDPOINT_ACTION)
def maas_promote(ctx: MagicContext, args: Namespace) -> None:
    check_name(args.endpoint, "endpoint name")
    _say_what_serves(args.endpoint, "promote", ctx.service.deployments.promote(args.endpoint, reason=args.reason))


@command("undeploy", "Stop serving an endpoint.", *_ENDPOINT_ACTION)
def maas_undeploy(ctx: MagicContext, args: Namespace) -> None:
    check_name(args.endpoint, "endpoint name")
    ctx.service.deployments.undeploy(args.endpoint, reason=args.reason)
    _say_what_serves(args.endpoint, "undeploy", None)


def _say_what_serves(endpoint: str, verb: str, result: dict | None) -> None:
    if result is None:
        print(f"{endpoint}: undeployed")
    else:
        print(
            f"{endpoint}: serving {result.get('model')}@{result.get('version')} ({verb}"
            f"{', was @' + str(result['previous_version']) if result.get('previous_version') else ''})"
        )
