"""%maas commands of serving: deploy, endpoints, predict, promote, rollback, undeploy."""

from __future__ import annotations

import numpy as np

from ..backends import add_scaling_arguments, deploy_scaled, scaling_options
from ..errors import InvalidInput
from ..names import check_name
from ..registry.keras_to_onnx import is_keras_model
from .commands import command
from .render import frame, split_ref


def _endpoints_frame(items: list[dict]):
    rows = []
    for e in items:
        canary = e.get("canary") or {}
        rows.append({**e, "canary_version": canary.get("version"), "canary_weight": canary.get("weight")})
    return frame(rows, ["name", "model", "state", "version", "previous_version", "canary_version", "canary_weight",
                        "max_batch_size", "max_queue_delay_ms", "error", "updated_at"], index="name")


def _deployable(ctx, target: str):
    """A Keras model, ONNX bytes or an .onnx path named by `target` in the notebook, else None."""
    if "@" in target:
        return None
    value = ctx.shell.user_ns.get(target)
    if is_keras_model(value) or isinstance(value, (bytes, bytearray)):
        return value
    return None


@command("deploy", "Deploy NAME[@V|@ALIAS] (or a model variable) as an endpoint; --canary ENDPOINT --weight P for a canary.")
def _deploy(parser):
    parser.add_argument("target", help="NAME, NAME@VERSION, NAME@ALIAS, or a Keras model / ONNX bytes in the notebook")
    parser.add_argument("--as", dest="endpoint", help="the endpoint's name (default: the model's name)")
    parser.add_argument("--name", help="with a model variable: the registered model's name (default: the variable's)")
    parser.add_argument("--max-batch", type=int, help="largest merged batch (1 turns batching off)")
    parser.add_argument("--max-delay-ms", type=float, help="longest wait for a batch to fill, in milliseconds")
    parser.add_argument("--canary", metavar="ENDPOINT", help="send part of ENDPOINT's traffic to this version")
    parser.add_argument("--weight", type=float, help="the canary's share of traffic, in percent")
    parser.add_argument("--reason", default="", help="why, for the history")
    add_scaling_arguments(parser)

    def run(ctx, args):
        model_object = _deployable(ctx, args.target)
        registered = ""
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
            print(f"{args.canary}: canary {name}@{ref} takes {args.weight:g}% of requests, "
                  f"{name}@{endpoint.get('version')} the rest{registered}")
        else:
            if args.weight is not None:
                raise InvalidInput("--weight goes with --canary ENDPOINT")
            target = args.endpoint or name
            endpoint = deploy_scaled(deployments, target, name, ref, scaling_options(vars(args)),
                                     max_batch_size=args.max_batch, max_queue_delay_ms=args.max_delay_ms,
                                     reason=args.reason)
            print(f"{target}: serving {name}@{endpoint.get('version')}, {endpoint.get('state')}{registered}")
        return None

    return run


@command("endpoints", "List the endpoints: state, versions, canary, batching.")
def _endpoints(parser):
    def run(ctx, args):
        return _endpoints_frame(ctx.service.deployments.list())

    return run


@command("predict", "Run data through an endpoint: %maas predict ENDPOINT X (X a numpy array or DataFrame).")
def _predict(parser):
    parser.add_argument("endpoint", help="ENDPOINT or ENDPOINT@VERSION (a specific version, canary included)")
    # nargs="+": an expression such as x_test[:, :10] holds spaces; its words are joined back.
    parser.add_argument("data", nargs="+", help="an expression in the notebook: x_test[:5], df, {'input': x}")

    def run(ctx, args):
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

    return run


def _action(verb: str, summary: str, method: str):
    @command(verb, summary)
    def build(parser):
        parser.add_argument("endpoint", help="the endpoint's name")
        parser.add_argument("--reason", default="", help="why, for the history")

        def run(ctx, args):
            check_name(args.endpoint, "endpoint name")
            result = getattr(ctx.service.deployments, method)(args.endpoint, reason=args.reason)
            if result is None:
                print(f"{args.endpoint}: undeployed")
            else:
                print(f"{args.endpoint}: serving {result.get('model')}@{result.get('version')} ({verb}"
                      f"{', was @' + str(result['previous_version']) if result.get('previous_version') else ''})")
            return None

        return run

    return build


_action("rollback", "Return an endpoint to the version it served before, in one step.", "rollback")
_action("promote", "Make an endpoint's canary its primary version.", "promote")
_action("undeploy", "Stop serving an endpoint.", "undeploy")
