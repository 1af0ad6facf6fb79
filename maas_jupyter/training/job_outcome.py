"""What a job's request may hold, and what its end means: pure functions the JobRunner applies."""

from __future__ import annotations

import signal

from ..errors import InvalidInput
from . import inputs
from .job_store import CANCELLED, FAILED, SUCCEEDED
from .launchers import WorkerExit

JOB_PARAMS = ("epochs", "batch_size", "optimizer", "lr", "loss", "val_split")


def check_job_params(params: dict | None) -> dict:
    """Training flags of a job, checked now so a bad flag fails the request, not the job later."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(JOB_PARAMS))
    if unknown:
        raise InvalidInput(f"unknown training option(s) {', '.join(unknown)}: use {', '.join(JOB_PARAMS)}")
    params = {k: v for k, v in params.items() if v is not None}
    optimizer, lr = inputs.check_hyperparameters(
        params.get("optimizer"), params.get("lr"), params.get("epochs", 1), params.get("batch_size")
    )
    if optimizer is not None:
        params["optimizer"] = optimizer
    if lr is not None:
        params["lr"] = lr
    split = params.get("val_split")
    if split is not None and (isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1):
        raise InvalidInput(f"the validation split must be a fraction between 0 and 1, not {split!r}")
    if "loss" in params and not isinstance(params["loss"], str):
        raise InvalidInput("loss must be the name of a Keras loss")
    return params


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def final_state(cancel_requested: bool, ended: WorkerExit, result: dict, server_closed: bool) -> tuple[str, str]:
    """(state, reason) of a job whose worker ended as `ended` and left `result` (result.json, {} if none)."""
    returncode = ended.returncode
    if cancel_requested:
        return CANCELLED, "cancelled" + (" (killed after the grace period)" if returncode == -signal.SIGKILL else "")
    if returncode == 0 and result.get("status") == "succeeded":
        return SUCCEEDED, ""
    if server_closed and (returncode is None or returncode < 0):
        return FAILED, "the server stopped while the job ran"
    if ended.reason:  # the launcher knows why (a Ray node that died): more than any exit code says
        return FAILED, ended.reason
    if result.get("error"):
        return FAILED, result["error"]
    if returncode is not None and returncode < 0:
        reason = f"the worker was killed by {signal_name(returncode)}"
        if returncode == -signal.SIGKILL:
            reason += " (out of memory, or killed from outside)"
        return FAILED, reason
    return FAILED, f"the worker exited with code {returncode}"
