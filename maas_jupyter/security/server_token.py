"""The token of a `maas serve` that was given none: made at start, kept where the CLI finds it.

`MAAS_HOME/serve.json` (mode 0600) holds the URL and token of the server that generated it, so `maas
deployments` and the other commands of the same user need no --url or --token. A server started with
an explicit token (MAAS_TOKEN, --token: the Jupyter extension's and the kernels' own children) writes
nothing: its owner holds the token already, and the file names the user's own server.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

CONNECTION_FILE = "serve.json"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_connection_file(home: Path, url: str, token: str) -> Path:
    """Write {url, token, pid} readable by this user only (written under another name, then renamed)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / CONNECTION_FILE
    temporary = path.with_name(f".{CONNECTION_FILE}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, handle)
    os.replace(temporary, path)
    return path


def read_connection_file(home: Path) -> dict | None:
    """The running server's {url, token, pid}, or None (no file, unreadable, or its server is gone)."""
    try:
        data = json.loads((home / CONNECTION_FILE).read_text())
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data.get("url"), str) and isinstance(data.get("token"), str) else None


def remove_connection_file(home: Path) -> None:
    """Remove the file if this process wrote it (another server may have written it since)."""
    path = home / CONNECTION_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass
