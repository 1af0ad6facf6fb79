"""One background training job, in its own process: `python -m maas_jupyter.training.job_worker JOB_DIR`.

JOB_DIR holds spec.json and script.py (written by the JobRunner). The worker runs the script,
trains what it defines, streams events to JOB_DIR/events.jsonl and leaves JOB_DIR/result.json.
With spec "record": "worker" (the local backend) it opens the server's database, records the run and
registers the trained model itself. With "record": "server" (a Ray node, no MAAS_HOME, no database)
it leaves the model as checked ONNX (model.onnx, model.keras) and result.json status "trained"; the
server records and registers (streamed_runs.py). stdout/stderr are the job's log.
SIGTERM means cancel: it becomes a KeyboardInterrupt so training stops between steps and the run
is recorded as interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 3
REQUIRED = ("model", "x_train", "y_train")


def _on_sigterm(_signum, _frame):
    raise KeyboardInterrupt("cancelled (SIGTERM)")


def _write_result(job_dir: Path, result: dict) -> None:
    tmp = job_dir / "result.json.tmp"
    tmp.write_text(json.dumps(result, default=str))
    os.replace(tmp, job_dir / "result.json")


def _last_line(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1][:500]


def _train(spec: dict, namespace: dict, job_dir: Path, runs):
    """Train what the script defined, streaming events to JOB_DIR/events.jsonl and progress to the log."""
    from .listeners import JsonLinesWriter, TextProgress
    from .trainer import train

    has_val = "x_val" in namespace and "y_val" in namespace
    writer = JsonLinesWriter(job_dir / "events.jsonl")
    progress = TextProgress(write=lambda line: print(line, flush=True))
    try:
        return train(
            namespace["model"],
            namespace["x_train"],
            namespace["y_train"],
            val=(namespace["x_val"], namespace["y_val"]) if has_val else None,
            runs=runs,
            model_name=spec["name"],
            job_id=spec["job_id"],
            listener=[writer, progress],
            **dict(spec.get("params") or {}),
        )
    finally:
        writer.close()


def _reference(namespace: dict) -> dict | None:
    """The drift summary of x_train (what the version's served inputs are compared with), or None with
    the reason in the log."""
    from ..errors import InvalidInput
    from ..monitoring.drift import summarize

    try:
        summary = summarize(namespace["x_train"])
    except InvalidInput as exc:
        print(f"no drift reference kept: {exc}", flush=True)
        return None
    print(f"drift reference: {summary['rows']} rows x {summary['features']} features", flush=True)
    return summary


def _unfinished(result) -> dict | None:
    if result.status == "interrupted":
        return {"status": "cancelled", "run_id": result.run_id, "error": result.error}
    if result.status != "finished":
        return {"status": "failed", "run_id": result.run_id, "error": f"training {result.status}: {result.error}"}
    return None


def _train_and_register(spec: dict, namespace: dict, job_dir: Path) -> dict:
    """Worker with the database (local backend): it records the run and registers the model itself."""
    from ..config import Settings
    from ..platform import Platform
    from .register import register_trained

    platform = Platform(Settings.from_env(spec["home"], spec["database_url"]))
    result = _train(spec, namespace, job_dir, platform.runs)
    if (outcome := _unfinished(result)) is not None:
        return outcome
    print(f"registering {spec['name']} from run {result.run_id}", flush=True)
    version = register_trained(platform, spec["name"], result, description=f"trained by job {spec['job_id']}")
    print(f"registered {spec['name']} version {version['version']}", flush=True)
    reference = _reference(namespace)
    if reference is not None:
        platform.set_reference_summary(spec["name"], version["version"], reference)
    platform.close()
    return {"status": "succeeded", "run_id": result.run_id, "version": version["version"]}


def _train_and_return(spec: dict, namespace: dict, job_dir: Path) -> dict:
    """Worker without the database (a Ray node): the server records the run from the streamed events
    and registers the model left here. Converting to ONNX, and checking the conversion against Keras,
    happen here, so TensorFlow stays on the worker's node."""
    from ..registry.intake import prepare

    result = _train(spec, namespace, job_dir, None)
    run = {
        "run_id": result.run_id,
        "status": result.status,
        "history": result.history,
        "params": result.params,
        "epochs_completed": result.epochs_completed,
        "steps": result.steps_completed,
        "duration_s": result.duration_s,
        "error": result.error,
    }
    if (outcome := _unfinished(result)) is not None:
        return {**outcome, "run": run}
    print(f"converting {spec['name']} from run {result.run_id} to ONNX", flush=True)
    intake = prepare(result.model, tolerance=spec.get("parity_tolerance", 1e-4))
    (job_dir / "model.onnx").write_bytes(intake.onnx_bytes)
    if intake.keras_bytes is not None:
        (job_dir / "model.keras").write_bytes(intake.keras_bytes)
    return {
        "status": "trained",
        "run_id": result.run_id,
        "run": run,
        "reference": _reference(namespace),
        "intake": {"source": intake.source, "params": intake.params},
    }


def _exit_with_parent() -> None:
    """Die with the process that started us: a Ray actor killed with its node or by ray.kill would
    otherwise leave this worker training on, unseen (it leads its own process group)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="maas-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Run the job in JOB_DIR; the exit code says succeeded (0), failed (1) or cancelled (3)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m maas_jupyter.training.job_worker JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(args[0])
    spec = json.loads((job_dir / "spec.json").read_text())
    script_path = job_dir / "script.py"
    print(f"job {spec['job_id']} ({spec['name']}) started, pid {os.getpid()}", flush=True)
    if spec.get("exit_with_parent"):
        _exit_with_parent()
    namespace = {"__name__": "__maas_job__", "__file__": str(script_path)}
    try:
        code = compile(script_path.read_text(), str(script_path), "exec")
        exec(code, namespace)
        missing = [name for name in REQUIRED if name not in namespace]
        if missing:
            result = {
                "status": "failed",
                "error": f"the script must define model, x_train and y_train (missing: {', '.join(missing)})",
            }
        elif spec.get("record") == "server":
            result = _train_and_return(spec, namespace, job_dir)
        else:
            result = _train_and_register(spec, namespace, job_dir)
    except KeyboardInterrupt:
        result = {"status": "cancelled", "error": "cancelled"}
    except BaseException as exc:  # the user's script: anything it raises is the job's failure reason
        traceback.print_exc()
        result = {"status": "failed", "error": _last_line(exc)}
    sys.stdout.flush()
    if result["status"] == "failed":
        print(f"job failed: {result['error']}", file=sys.stderr, flush=True)
    _write_result(job_dir, result)
    return {"succeeded": EXIT_OK, "trained": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(result["status"], EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
