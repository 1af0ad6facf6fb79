"""One background training job, in its own process: `python -m maas_jupyter.training.job_worker JOB_DIR`.

JOB_DIR holds spec.json and script.py (written by the JobRunner). The worker runs the script,
trains what it defines, streams events to JOB_DIR/events.jsonl, registers the trained model on
success, and leaves JOB_DIR/result.json. stdout/stderr are the job's log (the runner redirects them).
SIGTERM means cancel: it becomes a KeyboardInterrupt so training stops between steps and the run
is recorded as interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import sys
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


def _train_and_register(spec: dict, namespace: dict, job_dir: Path) -> dict:
    from ..config import Settings
    from ..platform import Platform
    from .listeners import JsonLinesWriter, TextProgress
    from .register import register_trained
    from .trainer import train

    missing = [name for name in REQUIRED if name not in namespace]
    if missing:
        return {"status": "failed", "error": f"the script must define model, x_train and y_train "
                                             f"(missing: {', '.join(missing)})"}
    has_val = "x_val" in namespace and "y_val" in namespace
    params = dict(spec.get("params") or {})
    platform = Platform(Settings.from_env(spec["home"], spec["database_url"]))
    writer = JsonLinesWriter(job_dir / "events.jsonl")
    progress = TextProgress(write=lambda line: print(line, flush=True))
    try:
        result = train(namespace["model"], namespace["x_train"], namespace["y_train"],
                       val=(namespace["x_val"], namespace["y_val"]) if has_val else None,
                       runs=platform.runs, model_name=spec["name"], job_id=spec["job_id"],
                       listener=[writer, progress], **params)
    finally:
        writer.close()
    if result.status == "interrupted":
        return {"status": "cancelled", "run_id": result.run_id, "error": result.error}
    if result.status != "finished":
        return {"status": "failed", "run_id": result.run_id, "error": f"training {result.status}: {result.error}"}
    print(f"registering {spec['name']} from run {result.run_id}", flush=True)
    version = register_trained(platform, spec["name"], result, description=f"trained by job {spec['job_id']}")
    print(f"registered {spec['name']} version {version['version']}", flush=True)
    platform.close()
    return {"status": "succeeded", "run_id": result.run_id, "version": version["version"]}


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
    namespace = {"__name__": "__maas_job__", "__file__": str(script_path)}
    try:
        code = compile(script_path.read_text(), str(script_path), "exec")
        exec(code, namespace)
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
    return {"succeeded": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(result["status"], EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
