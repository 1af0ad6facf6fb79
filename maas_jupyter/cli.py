"""The `maas` command line: `maas serve`, and deploy/undeploy/rollback/promote/predict/models/versions
against a running serve process (--url / MAAS_URL, --token / MAAS_TOKEN)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from urllib.parse import quote

from .backends import add_scaling_arguments, deploy_scaled, scaling_options
from .config import TABLE, Settings
from .errors import InvalidInput

DEFAULT_URL = "http://127.0.0.1:8080"


def _settings() -> Settings:
    """The settings (MAAS_…): a value that does not fit ends the command with its reason, not a traceback."""
    try:
        return Settings.from_env()
    except InvalidInput as exc:
        raise SystemExit(f"maas: {exc.message}") from None


def _serve(args) -> int:
    from .security import server_token
    from .security.request_policy import LOOPBACK_NAMES
    from .serving.app import run_serving

    settings = _settings()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    token = args.token or settings.token or None
    if args.no_token and token:
        print("maas serve: --no-token and a token (--token or MAAS_TOKEN) contradict each other", file=sys.stderr)
        return 2
    if args.no_token and args.host not in LOOPBACK_NAMES and not args.force:
        print(
            f"maas serve: refusing to serve {args.host} without a token: anyone who reaches it could run "
            "code (training jobs) on this machine. Drop --no-token, or add --force if this is what you mean.",
            file=sys.stderr,
        )
        return 2
    generated = token is None and not args.no_token
    if generated:
        token = server_token.new_token()
        url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{args.http_port}"
        path = server_token.write_connection_file(settings.home, url, token)
        print(
            f"maas serve: token {token}\n  send it as 'Authorization: Bearer <token>'; the maas commands "
            f"read it from {path}",
            file=sys.stderr,
            flush=True,
        )
    elif args.no_token:
        print("maas serve: no token: every route is open to whoever reaches this address", file=sys.stderr)
    try:
        run_serving(settings, serve_options(args, settings, token))
    finally:
        if generated:
            server_token.remove_connection_file(settings.home)
    return 0


def serve_options(args, settings: Settings, token: str | None):
    """How `maas serve` listens and runs models: each flag given wins over the setting it overrides."""
    from .serving.app import ServeOptions

    def chosen(flag_value, setting_value):
        return setting_value if flag_value is None else flag_value

    return ServeOptions(
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        token=token,
        allowed_hosts=tuple(args.allow_host),
        allowed_origins=tuple(args.allow_origin),
        max_request_bytes=chosen(args.max_request_bytes, settings.max_request_bytes),
        intra_op_threads=chosen(args.intra_op_threads, settings.intra_op_threads),
        inference_threads=args.inference_threads,
        keep_previous=not args.release_previous,
        body_timeout_s=chosen(args.body_timeout, settings.body_timeout_s),
        max_receiving=args.max_receiving,
    )


def client_target(args, settings: Settings) -> tuple[str, str | None]:
    """The URL and token of the server named by --url/--token, MAAS_URL/MAAS_TOKEN, or the `maas serve`
    of this MAAS_HOME that generated its token (security.server_token)."""
    from .security.server_token import read_connection_file

    url = args.url or settings.url
    token = args.token or settings.token
    if not url or not token:
        running = read_connection_file(settings.home)
        if running is not None and (not url or url.rstrip("/") == running["url"]):
            url, token = running["url"], token or running["token"]
    return url or DEFAULT_URL, token or None


def _client(args):
    from .serving.client import ServingClient

    return ServingClient(*client_target(args, _settings()))


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    return name, (version or None)


def _deploy(args, client):
    model, version = _split_ref(args.model)
    if args.canary:
        return client.canary(args.canary, version or "latest", args.weight, model=model, reason=args.reason)
    return deploy_scaled(
        client,
        args.as_ or model,
        model,
        version,
        scaling_options(vars(args)),
        max_batch_size=args.max_batch,
        max_queue_delay_ms=args.max_delay_ms,
        reason=args.reason,
    )


def _predict(args, client):
    import numpy as np

    if args.data.startswith("@"):
        path = args.data[1:]
        data = np.load(path) if path.endswith(".npy") else json.load(open(path))
    else:
        data = json.loads(args.data)
    inputs = {k: np.asarray(v) for k, v in data.items()} if isinstance(data, dict) else np.asarray(data)
    outputs = client.predict(args.endpoint, inputs, args.version)
    return {
        name: value.tolist() if value.dtype != object else [v.decode("utf-8", "replace") for v in value.reshape(-1)]
        for name, value in outputs.items()
    }


def _keys(args, client):
    from .errors import InvalidInput

    if args.action == "list":
        return client.api_call("GET", "/keys")["items"]
    if args.action == "create":
        if bool(args.targets) == args.all:
            raise InvalidInput("name the endpoints the key may call, or give --all (not both)")
        return client.api_call(
            "POST", "/keys", {"endpoints": ["*"] if args.all else args.targets, "description": args.description}
        )
    if len(args.targets) != 1:
        raise InvalidInput("maas keys revoke ID: give one key's id")
    return client.api_call("DELETE", f"/keys/{quote(args.targets[0], safe='')}?reason={quote(args.reason)}")


def _overriding(name: str) -> dict:
    """add_argument keywords of the flag that overrides setting `name`: its value is checked as the
    variable's would be, and it defaults to None so that the variable (or its default) applies."""
    setting = TABLE[name]

    def convert(text: str):
        try:
            return setting.convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {setting.wants()}, not {text!r}") from None

    shown = setting.default_text().replace("`", "")
    return {
        "type": convert,
        "default": None,
        "help": f"{setting.description.replace('`', '')} (default: {name}, else {shown})",
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maas", description="Model-as-a-Service: serve and manage models.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve V2 REST (+gRPC) and the management API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--http-port", type=int, default=8080)
    serve.add_argument("--grpc-port", type=int, default=None)
    serve.add_argument(
        "--token", default=None, help="bearer token required on every route (or MAAS_TOKEN; default: one is generated)"
    )
    serve.add_argument(
        "--no-token", action="store_true", help="no authentication at all (refused beyond loopback unless --force)"
    )
    serve.add_argument("--force", action="store_true", help="with --no-token: serve beyond loopback all the same")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to answer besides loopback and --host (repeatable)",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to call cross-origin, e.g. https://app.example (repeatable; * for any)",
    )
    serve.add_argument("--max-request-bytes", **_overriding("MAAS_MAX_REQUEST_BYTES"))
    serve.add_argument("--body-timeout", **_overriding("MAAS_BODY_TIMEOUT_S"))
    serve.add_argument(
        "--max-receiving",
        type=int,
        default=256,
        help="connections at once still sending a request body; more are answered 503 (default 256)",
    )
    serve.add_argument("--intra-op-threads", **_overriding("MAAS_INTRA_OP_THREADS"))
    serve.add_argument(
        "--inference-threads", type=int, default=None, help="runs in parallel across requests (default: one per core)"
    )
    serve.add_argument(
        "--release-previous",
        action="store_true",
        help="close the previous version after a swap (less memory; rollback then reloads it)",
    )
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(handler=None)

    def remote(name, help_text, handler):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--url", default=None, help=f"serve URL (MAAS_URL, default {DEFAULT_URL})")
        command.add_argument("--token", default=None, help="bearer token (MAAS_TOKEN)")
        command.set_defaults(handler=handler)
        return command

    deploy = remote("deploy", "deploy MODEL[@VERSION|@ALIAS] as an endpoint (swap if it exists)", _deploy)
    deploy.add_argument("model")
    deploy.add_argument(
        "--as", dest="as_", default=None, metavar="ENDPOINT", help="endpoint name (default: the model's name)"
    )
    deploy.add_argument("--max-batch", type=int, default=None)
    deploy.add_argument("--max-delay-ms", type=float, default=None)
    deploy.add_argument("--canary", default=None, metavar="ENDPOINT", help="deploy as a canary of ENDPOINT")
    deploy.add_argument("--weight", type=float, default=10.0, help="canary traffic percent")
    deploy.add_argument("--reason", default="")
    add_scaling_arguments(deploy)

    for name, help_text, method in (
        ("undeploy", "stop serving an endpoint", "undeploy"),
        ("rollback", "back to the previous version (or drop the canary)", "rollback"),
        ("promote", "make the canary the primary version", "promote"),
    ):
        command = remote(name, help_text, lambda a, c, m=method: getattr(c, m)(a.endpoint, reason=a.reason))
        command.add_argument("endpoint")
        command.add_argument("--reason", default="")

    remote("deployments", "list endpoints", lambda a, c: c.list())
    remote("models", "list registered models", lambda a, c: c.models())
    versions = remote("versions", "list a model's versions", lambda a, c: c.versions(a.name))
    versions.add_argument("name")
    predict = remote("predict", "run inputs through an endpoint", _predict)
    predict.add_argument("endpoint")
    predict.add_argument("data", help="JSON array, JSON object {input: array}, or @file.npy / @file.json")
    predict.add_argument("--version", default=None)
    keys = remote("keys", "inference keys: list, create ENDPOINT… (or --all), revoke ID", _keys)
    keys.add_argument("action", nargs="?", default="list", choices=["list", "create", "revoke"])
    keys.add_argument("targets", nargs="*", help="create: endpoints the key may call; revoke: the key's id")
    keys.add_argument("--all", action="store_true", help="create: a key for every endpoint")
    keys.add_argument("--description", default="")
    keys.add_argument("--reason", default="")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `maas` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    from .errors import MaasError

    client = _client(args)
    try:
        result = args.handler(args, client)
    except MaasError as exc:
        print(f"maas {args.command}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"maas {args.command}: cannot reach the serving process: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    if result is not None:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
