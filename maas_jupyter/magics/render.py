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
        rows.append({
            **v,
            "aliases": ", ".join(v.get("aliases") or []),
            "inputs": "; ".join(f"{t['name']}:{t['datatype']}{t['shape']}" for t in sig.get("inputs", [])),
            "outputs": "; ".join(f"{t['name']}:{t['datatype']}{t['shape']}" for t in sig.get("outputs", [])),
            "sha256": (v.get("sha256") or "")[:12],
        })
    return frame(rows, ["version", "aliases", "source", "inputs", "outputs", "sha256", "run_id", "parent_version",
                        "description", "metrics", "created_by", "created_at"], index="version")
