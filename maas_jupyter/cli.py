"""The `maas` command line: `maas serve`, and deploy/undeploy/rollback/promote/predict/models/versions
against a running serve process (--url / MAAS_URL, --token / MAAS_TOKEN)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from urllib.parse import quote

from .backends import add_scaling_arguments, deploy_scaled, scaling_options

DEFAULT_URL = "http://127.0.0.1:8080"


def _serve(args) -> int:
    from .config import Settings
    from .security import server_token
    from .security.request_policy import LOOPBACK_NAMES
    from .serving.app import ServeOptions, run_serving

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    token = args.token or os.environ.get("MAAS_TOKEN") or None
    if args.no_token and token:
        print("maas serve: --no-token and a token (--token or MAAS_TOKEN) contradict each other", file=sys.stderr)
        return 2
    if args.no_token and args.host not in LOOPBACK_NAMES and not args.force:
        print(f"maas serve: refusing to serve {args.host} without a token: anyone who reaches it could run "
              "code (training jobs) on this machine. Drop --no-token, or add --force if this is what you mean.",
              file=sys.stderr)
        return 2
    settings = Settings.from_env()
    generated = token is None and not args.no_token
    if generated:
        token = server_token.new_token()
        url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{args.http_port}"
        path = server_token.write_connection_file(settings.home, url, token)
        print(f"maas serve: token {token}\n  send it as 'Authorization: Bearer <token>'; the maas commands "
              f"read it from {path}", file=sys.stderr, flush=True)
    elif args.no_token:
        print("maas serve: no token: every route is open to whoever reaches this address", file=sys.stderr)
    options = ServeOptions(host=args.host, http_port=args.http_port, grpc_port=args.grpc_port, token=token,
                           allowed_hosts=tuple(args.allow_host), allowed_origins=tuple(args.allow_origin),
                           max_request_bytes=args.max_request_bytes, intra_op_threads=args.intra_op_threads,
                           inference_threads=args.inference_threads, keep_previous=not args.release_previous,
                           body_timeout_s=args.body_timeout, max_receiving=args.max_receiving)
    try:
        run_serving(settings, options)
    finally:
        if generated:
            server_token.remove_connection_file(settings.home)
    return 0


def _client(args):
    """A client of the server named by --url/--token, MAAS_URL/MAAS_TOKEN, or the `maas serve` of this
    MAAS_HOME that generated its token (security.server_token)."""
    from .config import Settings
    from .security.server_token import read_connection_file
    from .serving.client import ServingClient

    url = args.url or os.environ.get("MAAS_URL")
    token = args.token or os.environ.get("MAAS_TOKEN")
    if not url or not token:
        running = read_connection_file(Settings.from_env().home)
        if running is not None and (not url or url.rstrip("/") == running["url"]):
            url, token = running["url"], token or running["token"]
    return ServingClient(url or DEFAULT_URL, token or None)


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    return name, (version or None)


def _deploy(args, client):
    model, version = _split_ref(args.model)
    if args.canary:
        return client.canary(args.canary, version or "latest", args.weight, model=model, reason=args.reason)
    return deploy_scaled(client, args.as_ or model, model, version, scaling_options(vars(args)),
                         max_batch_size=args.max_batch, max_queue_delay_ms=args.max_delay_ms, reason=args.reason)


def _predict(args, client):
    import numpy as np

    if args.data.startswith("@"):
        path = args.data[1:]
        data = np.load(path) if path.endswith(".npy") else json.load(open(path))
    else:
        data = json.loads(args.data)
    inputs = {k: np.asarray(v) for k, v in data.items()} if isinstance(data, dict) else np.asarray(data)
    outputs = client.predict(args.endpoint, inputs, args.version)
    return {name: value.tolist() if value.dtype != object else [v.decode("utf-8", "replace") for v in value.reshape(-1)]
            for name, value in outputs.items()}


def _keys(args, client):
    from .errors import InvalidInput

    if args.action == "list":
        return client.api_call("GET", "/keys")["items"]
    if args.action == "create":
        if bool(args.targets) == args.all:
            raise InvalidInput("name the endpoints the key may call, or give --all (not both)")
        return client.api_call("POST", "/keys", {"endpoints": ["*"] if args.all else args.targets,
                                                 "description": args.description})
    if len(args.targets) != 1:
        raise InvalidInput("maas keys revoke ID: give one key's id")
    return client.api_call("DELETE", f"/keys/{quote(args.targets[0], safe='')}?reason={quote(args.reason)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maas", description="Model-as-a-Service: serve and manage models.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve V2 REST (+gRPC) and the management API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--http-port", type=int, default=8080)
    serve.add_argument("--grpc-port", type=int, default=None)
    serve.add_argument("--token", default=None,
                       help="bearer token required on every route (or MAAS_TOKEN; default: one is generated)")
    serve.add_argument("--no-token", action="store_true",
                       help="no authentication at all (refused beyond loopback unless --force)")
    serve.add_argument("--force", action="store_true", help="with --no-token: serve beyond loopback all the same")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="a Host name to answer besides loopback and --host (repeatable)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="a browser origin allowed to call cross-origin, e.g. https://app.example (repeatable; * for any)")
    serve.add_argument("--max-request-bytes", type=int,
                       default=int(os.environ.get("MAAS_MAX_REQUEST_BYTES", 64 * 1024 * 1024)))
    serve.add_argument("--body-timeout", type=float, default=float(os.environ.get("MAAS_BODY_TIMEOUT_S", 60)),
                       help="seconds a request body may take to arrive (default 60)")
    serve.add_argument("--max-receiving", type=int, default=256,
                       help="connections at once still sending a request body; more are answered 503 (default 256)")
    serve.add_argument("--intra-op-threads", type=int, default=int(os.environ.get("MAAS_INTRA_OP_THREADS", 1)),
                       help="ONNX Runtime threads per run (0: ONNX Runtime decides)")
    serve.add_argument("--inference-threads", type=int, default=None,
                       help="runs in parallel across requests (default: one per core)")
    serve.add_argument("--release-previous", action="store_true",
                       help="close the previous version after a swap (less memory; rollback then reloads it)")
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
    deploy.add_argument("--as", dest="as_", default=None, metavar="ENDPOINT",
                        help="endpoint name (default: the model's name)")
    deploy.add_argument("--max-batch", type=int, default=None)
    deploy.add_argument("--max-delay-ms", type=float, default=None)
    deploy.add_argument("--canary", default=None, metavar="ENDPOINT", help="deploy as a canary of ENDPOINT")
    deploy.add_argument("--weight", type=float, default=10.0, help="canary traffic percent")
    deploy.add_argument("--reason", default="")
    add_scaling_arguments(deploy)

    for name, help_text, method in (("undeploy", "stop serving an endpoint", "undeploy"),
                                    ("rollback", "back to the previous version (or drop the canary)", "rollback"),
                                    ("promote", "make the canary the primary version", "promote")):
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
