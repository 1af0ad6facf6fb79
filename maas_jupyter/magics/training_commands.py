"""%maas commands of training: train, runs, %%maas job, jobs, logs, cancel, watch."""

from __future__ import annotations

import hashlib
from argparse import ArgumentParser, Namespace
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInput
from ..names import check_name
from ..service import JobsService
from ..training.inputs import OPTIMIZERS
from .commands import arg, command
from .context import MagicContext
from .render import frame, registered_line

RUN_COLUMNS = [
    "run_id",
    "model_name",
    "status",
    "optimizer",
    "lr",
    "epochs",
    "batch_size",
    "epochs_completed",
    "loss",
    "val_loss",
    "accuracy",
    "val_accuracy",
    "duration_s",
    "registered_version",
    "job_id",
    "error",
    "started_at",
]
JOB_COLUMNS = [
    "id",
    "name",
    "state",
    "reason",
    "registered_version",
    "run_id",
    "params",
    "resources",
    "created_at",
    "started_at",
    "ended_at",
]


def _jobs(ctx: MagicContext) -> JobsService:
    """The jobs every job command acts on: this kernel's runner in-process, the server's over its API."""
    return ctx.service.jobs


def _pair(ctx, text: str, flag: str):
    names = [part.strip() for part in text.split(",")]
    if len(names) != 2 or not all(names):
        raise InvalidInput(f"{flag} takes two names separated by a comma: X,Y")
    return ctx.variable(names[0]), ctx.variable(names[1])


def _add_training_flags(parser: ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (default 1)")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per step (default 32; gd uses all)")
    parser.add_argument("--optimizer", help=f"one of {', '.join(OPTIMIZERS)} (gd: full-batch gradient descent)")
    parser.add_argument("--lr", type=float, help="learning rate (default: 0.1 gd, 0.01 sgd, 0.001 adam)")
    parser.add_argument("--loss", help="a Keras loss name (default: inferred from the labels)")


def _training_options(args) -> dict:
    options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "loss": args.loss,
    }
    return {k: v for k, v in options.items() if v is not None}


def runs_frame(items: list[dict]):
    """Runs as a DataFrame, one row each, with the last epoch's metrics as columns."""
    rows = []
    for run in items:
        params, metrics = run.get("params") or {}, run.get("metrics") or {}
        rows.append(
            {
                **run,
                **{k: params.get(k) for k in ("optimizer", "lr", "epochs", "batch_size")},
                **{k: metrics.get(k) for k in ("loss", "val_loss", "accuracy", "val_accuracy")},
            }
        )
    return frame(rows, RUN_COLUMNS, index="run_id")


def jobs_frame(items: list[dict]):
    return frame(items, JOB_COLUMNS, index="id")


@command(
    "train",
    "Train a Keras model in this kernel with a live curve; the run is recorded.",
    arg("model", help="a Keras model in the notebook"),
    arg("--data", required=True, metavar="X,Y", help="training inputs and labels in the notebook"),
    arg("--val", metavar="X,Y", help="validation inputs and labels"),
    arg("--val-split", type=float, help="hold out this fraction of the data for validation"),
    _add_training_flags,
    arg("--register", metavar="NAME", help="register the trained model as the next version of NAME"),
)
def maas_train(ctx: MagicContext, args: Namespace) -> None:
    from ..training.register import register_trained
    from ..training.trainer import train
    from ..widgets import live_curve

    if args.register is not None:
        check_name(args.register, "model name")
    model = ctx.variable(args.model)
    x, y = _pair(ctx, args.data, "--data")
    val = _pair(ctx, args.val, "--val") if args.val else None
    options = _training_options(args)
    options.setdefault("epochs", 1)
    # The service records the run: in-process its RunStore, with a server its API (never the server's
    # database from here); both are a service.RunsService.
    runs = ctx.service.runs
    # The widget is made only once the input checks passed, so a typo leaves no empty chart behind.
    curve = _LazyCurve(lambda: live_curve(f"%maas train {args.model}"))
    result = train(
        model,
        x,
        y,
        val=val,
        val_split=args.val_split,
        runs=runs,
        listener=curve,
        model_name=args.register or (args.model if args.model.isidentifier() else None),
        **options,
    )
    print(result.summary())
    remember_run(ctx, model, result)
    if args.register and result.status == "finished":
        reference = _training_reference(x)
        version = register_trained(ctx.service, args.register, result, runs=runs)
        print(f"{registered_line(version)}, from run {result.run_id[:8]}")
        if reference is not None:  # what the endpoint's inputs are compared with (%maas drift)
            ctx.service.set_reference_summary(args.register, version["version"], reference)
    elif args.register:
        print(f"not registered: the run {result.status}")
    return None


def weights_digest(model) -> str | None:
    """A fingerprint of a Keras model's weights (None for anything else)."""
    get_weights = getattr(model, "get_weights", None)
    if not callable(get_weights):
        return None
    digest = hashlib.blake2b(digest_size=16)
    for array in get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def remember_run(ctx, model, result) -> None:
    """Keep the model's last finished run with a fingerprint of the weights it left, so that a later
    `%maas register` of the same model, unchanged since, links the version to it.

    Only a finished run is a version's lineage. A run that did not finish is not remembered, and the
    fingerprint decides what its weights are: restored to where they were before it, they are still
    the earlier run's (if nothing else changed them); anything else matches no run."""
    if result.status != "finished":
        return
    try:
        ctx.trained[model] = (result, weights_digest(model))
    except TypeError:  # an object that cannot be weakly referenced: no lineage by object
        pass


def _training_reference(x):
    """The drift summary of the training inputs, or None (with the reason) when they cannot have one."""
    from ..monitoring.drift import summarize

    try:
        return summarize(x)
    except InvalidInput as exc:
        print(f"no drift reference kept: {exc}")
        return None


class _LazyCurve:
    """Creates the live view on the first event (train_begin comes after every input check)."""

    def __init__(self, make):
        self._make = make
        self._view = None

    def on_event(self, event: Mapping[str, Any]) -> None:
        if self._view is None:
            self._view = self._make()
        self._view.on_event(event)


@command(
    "runs",
    "List recorded training runs, newest first: %maas runs [NAME] [--status S].",
    arg("name", nargs="?", help="only runs of this model"),
    arg("--status", help="running, finished, interrupted, failed or diverged"),
    arg("--limit", type=int, default=100),
)
def maas_runs(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    return runs_frame(ctx.service.runs.list(args.name, args.status, 0, args.limit)["items"])


@command(
    "job",
    "Run the cell (it defines model, x_train, y_train) as a background job that registers NAME.",
    arg("name", help="the model the trained result is registered as"),
    arg("--val-split", type=float, help="validation fraction (when the script has no x_val)"),
    _add_training_flags,
    arg("--cpus", type=float, help="CPUs the job reserves on a Ray node (ray backend; default 1)"),
    arg("--gpus", type=float, help="GPUs the job reserves on a Ray node (ray backend)"),
    cell=True,
)
def maas_job(ctx: MagicContext, args: Namespace, cell: str) -> pd.DataFrame:
    params = _training_options(args)
    if args.val_split is not None:
        params["val_split"] = args.val_split
    resources = {key: value for key, value in (("cpus", args.cpus), ("gpus", args.gpus)) if value is not None}
    job = _jobs(ctx).submit(args.name, cell, params, resources)
    print(
        f"job {job['id']} {job['state']}: `%maas watch {job['id']}` follows it, "
        f"`%maas logs {job['id']}` shows its output, `%maas cancel {job['id']}` stops it"
    )
    return jobs_frame([job])


@command(
    "jobs",
    "List background training jobs, newest first.",
    arg("--state", help="QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED"),
    arg("--limit", type=int, default=100),
)
def maas_jobs(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    return jobs_frame(_jobs(ctx).list(args.state, 0, args.limit)["items"])


@command(
    "logs",
    "Show a job's output (stdout and stderr).",
    arg("job", help="the job's id"),
    arg("--tail", type=int, default=0, help="only the last N lines"),
)
def maas_logs(ctx: MagicContext, args: Namespace) -> None:
    jobs = _jobs(ctx)
    chunks, offset = [], 0
    while True:  # a log may exceed one reply: read it in chunks
        part = jobs.logs(args.job, offset)
        chunks.append(part["text"])
        if part["next_offset"] >= part["size"] or not part["text"]:
            break
        offset = part["next_offset"]
    text = "".join(chunks)
    if args.tail > 0:
        text = "\n".join(text.splitlines()[-args.tail :])
    print(text if text else f"(job {args.job} has written nothing yet; it is {part['state']})")
    return None


@command(
    "cancel",
    "Cancel a job: a queued one at once, a running one by SIGTERM then SIGKILL.",
    arg("job", help="the job's id"),
)
def maas_cancel(ctx: MagicContext, args: Namespace) -> None:
    job = _jobs(ctx).cancel(args.job)
    print(f"job {job['id']}: {'cancelled' if job['state'] == 'CANCELLED' else 'cancelling'}")
    return None


@command(
    "watch",
    "Show the live curve of a job (its whole history, then live) while the notebook stays usable.",
    arg("job", help="the job's id"),
    arg(
        "--wait",
        action="store_true",
        help="keep the cell running until the job ends (its final image then stays in the "
        "cell, also in a notebook executed headless)",
    ),
)
def maas_watch(ctx: MagicContext, args: Namespace) -> None:
    from ..training.job_store import FINAL_STATES
    from ..training.listeners import TextProgress
    from ..widgets import LossCurveWidget, in_widget_kernel

    jobs = _jobs(ctx)
    job = jobs.get(args.job)
    if not in_widget_kernel():  # a terminal: print the progress as it comes, then return
        progress = TextProgress()
        for event in _with_final_state(jobs, job["id"]):
            progress.on_event(event)
        print(f"job {job['id']}: {jobs.get(job['id'])['state']}")
        return None
    widget = LossCurveWidget(title=f"job {job['id']} ({job['name']})").show()
    # An ended job's history is replayed at once, in the cell, so its final image is part of the
    # cell's output; a running one is followed in the background unless --wait.
    foreground = args.wait or job["state"] in FINAL_STATES
    widget.follow(_with_final_state(jobs, job["id"]), background=not foreground)
    return None


def _with_final_state(jobs: JobsService, job_id: Any) -> Iterator[dict]:
    """A job's training events, closed by a train_end saying how the job ended when the worker could not
    say it (killed, failed before training, still queued when cancelled)."""
    ended = False
    for event in jobs.follow(job_id):
        ended = ended or event.get("type") == "train_end"
        yield event
    if not ended:
        job = jobs.get(job_id)
        yield {"type": "train_end", "status": job["state"].lower(), "error": job.get("reason") or ""}
