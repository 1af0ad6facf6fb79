"""Where endpoints and training jobs run: a backend is a Deployments object (serving/deployments.py) whose
runtimes live somewhere, and a job Launcher (training/launchers.py) whose workers run somewhere; the faces
never know which one they talk to.

  local  serving.deployments.Deployments: ONNX Runtime sessions in this process (the default);
         training.launchers.LocalLauncher: job workers as processes of this machine
  ray    backends.ray_deployments.RayDeployments: each loaded version is a Ray Serve deployment with
         N replicas (or autoscaling bounds); the V2 front (codec, validation, DataPlane) stays here
         and forwards validated feeds to the deployment's handle;
         backends.ray_jobs.RayLauncher: each job worker runs in a Ray actor with its CPU/GPU request

The backend interface is the runtime a Deployments object loads (`_load` returns it): acquire / release
/ retire, validate, `async infer(feed)`, configure_batching, and the attributes model, version,
signature, ready, error, output_names, input_names, observer. Swap, canary, promote, rollback and the
stored desired state are the same code for every backend. Chosen by Settings.backend (MAAS_BACKEND).
"""

from __future__ import annotations

from ..config import TABLE
from ..errors import InvalidInput

BACKENDS = TABLE["MAAS_BACKEND"].choices


def create_deployments(platform):
    """The Deployments object of the configured backend."""
    backend = platform.settings.backend
    if backend == "local":
        from ..serving.deployments import Deployments

        return Deployments(platform)
    if backend == "ray":
        from .ray_deployments import RayDeployments

        return RayDeployments(platform)
    raise InvalidInput(f"unknown backend {backend!r} (MAAS_BACKEND): choose one of {', '.join(BACKENDS)}")


def create_launcher(settings, python: str | None = None):
    """The job launcher of the configured backend (Settings.backend, MAAS_BACKEND)."""
    if settings.backend == "local":
        from ..training.launchers import LocalLauncher

        return LocalLauncher(python)
    if settings.backend == "ray":
        from .ray_jobs import RayLauncher

        return RayLauncher(settings.ray_address)
    raise InvalidInput(f"unknown backend {settings.backend!r} (MAAS_BACKEND): choose one of {', '.join(BACKENDS)}")


def backend_info(platform) -> dict:
    """{"backend": name, ...}: for ray, the cluster's nodes and each endpoint's replicas once this process
    serves (the Deployments object exists and knows the cluster)."""
    info = {"backend": platform.settings.backend}
    if platform.settings.backend == "local":
        return info
    info["ray_address"] = platform.settings.ray_address
    deployments = platform.__dict__.get("deployments")  # never start a backend just to describe it
    describe = getattr(deployments, "backend_info", None)  # RayDeployments, or a client of the serving process
    if callable(describe):
        try:
            info.update(describe())
        except Exception as exc:  # describing must not fail `info`
            info["backend_error"] = getattr(exc, "message", None) or str(exc)
    return info


SCALING_FIELDS = ("replicas", "min_replicas", "max_replicas", "target_ongoing_requests", "cpus")


def scaling_options(values: dict) -> dict:
    """The scaling options given (None: not given), checked against the backend by `deploy_scaled`."""
    return {key: values[key] for key in SCALING_FIELDS if values.get(key) is not None}


def deploy_scaled(deployments, name: str, model: str, version=None, scaling: dict | None = None, **options) -> dict:
    """deployments.deploy with scaling options when there are any; a backend without replicas (local)
    answers with the reason instead of a TypeError."""
    if not scaling:
        return deployments.deploy(name, model, version, **options)
    if not callable(getattr(deployments, "scale", None)) and not getattr(deployments, "forwards_scaling", False):
        raise InvalidInput(
            f"{', '.join(sorted(scaling))}: replicas and autoscaling need the ray backend "
            f"(MAAS_BACKEND=ray); this server runs endpoints locally"
        )
    return deployments.deploy(name, model, version, **scaling, **options)


def add_scaling_arguments(parser) -> None:
    """--replicas / --min-replicas / --max-replicas / --target-requests / --cpus (ray backend), for the
    command line and the magics alike."""
    parser.add_argument("--replicas", type=int, help="replicas of the endpoint (ray backend)")
    parser.add_argument("--min-replicas", type=int, help="autoscaling lower bound (ray backend)")
    parser.add_argument("--max-replicas", type=int, help="autoscaling upper bound (ray backend)")
    parser.add_argument(
        "--target-requests",
        dest="target_ongoing_requests",
        type=float,
        help="autoscaling target of requests in flight per replica (ray backend)",
    )
    parser.add_argument("--cpus", type=float, help="CPUs reserved per replica (ray backend)")
