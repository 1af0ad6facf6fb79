"""%maas keys: inference-only keys for applications (create, list, revoke)."""

from __future__ import annotations

from argparse import Namespace

import pandas as pd

from ..errors import InvalidInput
from .commands import arg, command
from .context import MagicContext
from .render import frame, person


@command(
    "keys",
    "Inference-only keys: %maas keys [list] | create ENDPOINT… [--all] | revoke ID.",
    arg("action", nargs="?", default="list", choices=["list", "create", "revoke"]),
    arg("targets", nargs="*", help="create: the endpoints the key may call; revoke: the key's id"),
    arg("--all", action="store_true", help="create: a key for every endpoint, present and future"),
    arg("--description", default="", help="create: what the key is for (an application's name)"),
    arg("--reason", default="", help="revoke: why, for the history"),
    arg("--revoked", action="store_true", help="list: revoked keys too"),
)
def maas_keys(ctx: MagicContext, args: Namespace) -> pd.DataFrame | None:
    keys = ctx.service.keys
    if args.action == "list":
        if args.targets:
            raise InvalidInput("%maas keys list takes no names")
        items = [
            {
                **k,
                "endpoints": ", ".join(k["endpoints"]),
                "created_by": person(k["created_by"]),
                "revoked_by": person(k["revoked_by"]),
            }
            for k in keys.list(include_revoked=args.revoked)
        ]
        return frame(
            items,
            [
                "id",
                "prefix",
                "endpoints",
                "description",
                "active",
                "last_used_at",
                "created_by",
                "created_at",
                "revoked_by",
                "revoked_at",
            ],
            index="id",
        )
    if args.action == "create":
        if bool(args.targets) == args.all:
            raise InvalidInput("name the endpoints the key may call, or give --all (not both)")
        made = keys.create(["*"] if args.all else args.targets, args.description)
        scope = "every endpoint" if args.all else ", ".join(made["endpoints"])
        print(
            f"inference key {made['id']} for {scope}; copy it now, it is not shown again:\n{made['key']}\n"
            f"send it as 'Authorization: Bearer <key>' (REST) or metadata 'authorization' (gRPC)"
        )
        return None
    if len(args.targets) != 1:
        raise InvalidInput("%maas keys revoke ID: give one key's id (%maas keys lists them)")
    revoked = keys.revoke(args.targets[0], reason=args.reason)
    print(f"inference key {revoked['id']} ({revoked['prefix']}…) revoked")
    return None
