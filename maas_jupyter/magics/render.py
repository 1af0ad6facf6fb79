"""Turning service results into what a notebook shows: DataFrames and short lines."""

from __future__ import annotations

import pandas as pd

from ..errors import InvalidInput


def split_ref(text: str) -> tuple[str, str | None]:
    """'mnist@3' -> ('mnist', '3'); 'mnist@production' -> ('mnist', 'production'); 'mnist' -> ('mnist', None)."""
    name, sep, ref = text.partition("@")
    if sep and not ref:
        raise InvalidInput(f"{text!r}: write NAME@VERSION or NAME@ALIAS")
    return name, (ref or None)


def short_id(value: str | None) -> str | None:
    """A run or job id as people quote it: its first 8 characters (git's habit)."""
    return value[:8] if value else value


def person(actor: str | None) -> str | None:
    """Who did something, readable: Jupyter names a token user by a random 32-hex id, shown short."""
    if actor and len(actor) == 32 and all(c in "0123456789abcdef" for c in actor):
        return f"anonymous {actor[:8]}"
    return actor


def frame(rows: list[dict], columns: list[str], index: str | None = None) -> pd.DataFrame:
    """A DataFrame with these columns in this order (missing values as None)."""
    data = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    for column in data.columns:
        if column.endswith("_at"):
            data[column] = pd.to_datetime(data[column], utc=True, format="ISO8601")
    return data.set_index(index) if index else data


def versions_frame(items: list[dict]) -> pd.DataFrame:
    rows = []
    for v in items:
        sig = v.get("signature") or {}
        rows.append(
            {
                **v,
                "aliases": ", ".join(v.get("aliases") or []),
                "inputs": "; ".join(f"{t['name']}:{t['datatype']}{t['shape']}" for t in sig.get("inputs", [])),
                "outputs": "; ".join(f"{t['name']}:{t['datatype']}{t['shape']}" for t in sig.get("outputs", [])),
                "sha256": (v.get("sha256") or "")[:12],
                "run_id": short_id(v.get("run_id")),
                "created_by": person(v.get("created_by")),
            }
        )
    return frame(
        rows,
        [
            "version",
            "aliases",
            "source",
            "inputs",
            "outputs",
            "sha256",
            "run_id",
            "parent_version",
            "description",
            "metrics",
            "created_by",
            "created_at",
        ],
        index="version",
    )


def registered_line(version: dict) -> str:
    """'registered mnist@3 (sha256 …, parity …, parent v2, alias production)': what a registration did."""
    details = [f"sha256 {version['sha256'][:12]}"]
    diff = (version.get("params") or {}).get("parity_max_abs_diff")
    if diff is not None:
        details.append(f"parity max |diff| {diff:.2g}")
    if version.get("parent_version"):
        details.append(f"parent v{version['parent_version']}")
    if version.get("aliases"):
        details.append("alias " + ", ".join(version["aliases"]))
    return f"registered {version['name']}@{version['version']} ({', '.join(details)})"
