"""A loaded model version: its ONNX Runtime session, input validation, warm-up, batching and draining."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Executor
from typing import Any, Protocol

import numpy as np

from ..errors import InvalidInput, Unavailable
from .batcher import Batcher
from .types import Tensor, numpy_dtype


def session_options(intra_op_threads: int):
    """Graph optimisation on; one inter-op thread (requests run in parallel in our pool instead)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = max(0, int(intra_op_threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


class Runtime(Protocol):
    """What an endpoint routes to: one version of a model, loaded (or failed to load) by a backend.
    Deployments, Endpoint and DataPlane see only this; ModelRuntime (ONNX Runtime in this process),
    backends.ray_runtime.RayRuntime (Ray Serve replicas) and FailedRuntime implement it."""

    # Read-only here (properties), so an implementation may hold narrower types (FailedRuntime's error is a str).
    @property
    def model(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def signature(self) -> dict: ...

    @property
    def error(self) -> str | None: ...

    @property
    def output_names(self) -> list[str]: ...

    @property
    def ready(self) -> bool: ...

    def acquire(self) -> bool: ...

    def release(self) -> None: ...

    def retire(self) -> None: ...

    def configure_batching(self, max_batch_size: int, max_queue_delay_ms: float) -> None: ...


class ServingRuntime(Runtime, Protocol):
    """A runtime that takes requests: the data plane validates a request's tensors with it, then runs them."""

    input_names: list[str]
    observer: Any  # the endpoint version's metrics recorder (monitoring.metrics), None: record nothing

    def validate(self, inputs: list[Tensor]) -> dict[str, np.ndarray]: ...

    async def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def run_now(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class Draining:
    """Requests `acquire` a runtime before running and `release` it after; a retired runtime closes
    (through `_close`) once the last request in flight has released it. Shared by every backend."""

    def _init_draining(self) -> None:
        self._lock = threading.Lock()
        self._inflight = 0
        self._retired = False
        self.closed = False

    ready = property(lambda self: not self.closed)

    def acquire(self) -> bool:
        """Count a request in; False if this runtime has closed (the caller picks again)."""
        with self._lock:
            if self.closed:
                return False
            self._inflight += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._inflight -= 1
            close = self._retired and self._inflight == 0 and not self.closed
            if close:
                self.closed = True
        if close:
            self._close()

    def retire(self) -> None:
        """Stop taking new work; close when the requests in flight are done."""
        with self._lock:
            self._retired = True
            close = self._inflight == 0 and not self.closed
            if close:
                self.closed = True
        if close:
            self._close()

    def _close(self) -> None:
        raise NotImplementedError  # each backend frees its own resources


class SignedRuntime(Draining):
    """A loaded version that checks requests against its signature: the same validation whichever
    backend runs the model (ModelRuntime here, RayRuntime in Ray Serve replicas)."""

    error: str | None = None

    def _init_signed(self, model: str, version: int, signature: dict) -> None:
        self.model = model
        self.version = version
        self.signature = signature
        self.input_names = [spec["name"] for spec in signature["inputs"]]
        self._specs = {spec["name"]: (spec["datatype"], spec["shape"]) for spec in signature["inputs"]}
        # Monitoring: the data plane sets the metrics recorder of this endpoint version (ORT time, batch
        # sizes, queue time); None records nothing.
        self.observer: Any = None
        self._init_draining()

    def validate(self, inputs: list[Tensor]) -> dict[str, np.ndarray]:
        """Check names, datatypes, shapes and element counts against the signature; the session feed."""
        feed: dict[str, np.ndarray] = {}
        for tensor in inputs:
            spec = self._specs.get(tensor.name)
            if spec is None:
                raise InvalidInput(f"unknown input {tensor.name!r}; {self._describe()}")
            if tensor.name in feed:
                raise InvalidInput(f"input {tensor.name!r} is given twice")
            datatype, expected = spec
            if tensor.datatype != datatype:
                raise InvalidInput(
                    f"input {tensor.name!r} has datatype {tensor.datatype}; the model expects {datatype}"
                )
            shape = tensor.shape
            if len(shape) != len(expected) or any(
                (not isinstance(d, int)) or d < 0 or (e >= 0 and d != e) for d, e in zip(shape, expected)
            ):
                raise InvalidInput(
                    f"input {tensor.name!r} has shape {list(shape)}; the model expects {expected} (-1: any size)"
                )
            count = math.prod(shape)
            data = tensor.data
            if data.size != count:
                raise InvalidInput(f"input {tensor.name!r} has {data.size} elements; shape {list(shape)} needs {count}")
            if datatype == "BYTES":
                # ONNX Runtime takes str elements for string tensors.
                data = np.array(
                    [
                        v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)
                        for v in data.reshape(-1)
                    ],
                    dtype=object,
                )
            elif data.dtype != numpy_dtype(datatype):
                data = data.astype(numpy_dtype(datatype))
            feed[tensor.name] = data.reshape(shape) if data.shape != tuple(shape) else data
        if len(feed) != len(self._specs):
            missing = [name for name in self._specs if name not in feed]
            raise InvalidInput(f"missing input(s) {missing}; {self._describe()}")
        return feed

    def _describe(self) -> str:
        return "the model takes " + ", ".join(f"{n} {d} {s}" for n, (d, s) in self._specs.items())


class ModelRuntime(SignedRuntime):
    """One model version ready to serve. Requests `acquire` it before running and `release` it after;
    a retired runtime closes its session once the last request in flight has released it."""

    def __init__(
        self,
        model: str,
        version: int,
        signature: dict,
        session,
        executor: Executor,
        max_batch_size: int,
        max_queue_delay_ms: float,
        max_concurrent_runs: int,
    ):
        self._init_signed(model, version, signature)
        self.session = session
        self.output_names = [o.name for o in session.get_outputs()]
        self.batchable = _batchable(signature)
        self.batcher = Batcher(self._run, executor, max(1, max_batch_size), max_queue_delay_ms, max_concurrent_runs)
        self.batcher.on_queue_time = self._queued
        self.executor = executor

    def _close(self) -> None:
        self.session = None  # ONNX Runtime frees the session with its last reference

    def configure_batching(self, max_batch_size: int, max_queue_delay_ms: float) -> None:
        self.batcher.max_batch_size = max(1, max_batch_size)
        self.batcher.max_queue_delay_ms = max_queue_delay_ms

    # ---- inference ---------------------------------------------------------------------------

    async def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a validated feed, merged with concurrent requests when batching is on."""
        if self.batchable and self.batcher.max_batch_size > 1:
            first = next(iter(feed.values()))
            key = tuple(array.shape[1:] for array in feed.values())
            outputs = await self.batcher.submit(feed, first.shape[0], key)
        else:
            import asyncio

            outputs = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._run_queued, feed, time.perf_counter()
            )
        return dict(zip(self.output_names, outputs))

    def _queued(self, seconds: float) -> None:
        observer = self.observer
        if observer is not None:
            observer.queued(seconds)

    def _run_queued(self, feed: dict[str, np.ndarray], queued_at: float) -> list[np.ndarray]:
        self._queued(time.perf_counter() - queued_at)
        return self._run(feed)

    def run_now(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a feed in the calling thread, unbatched (warm-up, tests, in-process callers)."""
        return dict(zip(self.output_names, self._run(feed)))

    def _run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        session = self.session
        if session is None:
            raise Unavailable(f"{self.model}@{self.version} was unloaded")
        observer = self.observer
        started = time.perf_counter()
        try:
            outputs = session.run(None, feed)
        except Exception as exc:  # ONNX Runtime's own errors carry the reason in their text
            raise InvalidInput(f"the model could not run this input: {str(exc).strip()}") from None
        if observer is not None:
            first = next(iter(feed.values()), None)
            observer.ran(first.shape[0] if first is not None and first.ndim > 0 else 1, time.perf_counter() - started)
        return outputs


class FailedRuntime:
    """Stands in for a version that could not load: metadata still answers, inference is 503."""

    ready = False
    closed = True

    def __init__(self, model: str, version: int, signature: dict, error: str):
        self.model = model
        self.version = version
        self.signature = signature
        self.error = error
        self.output_names = [o["name"] for o in signature.get("outputs", [])]

    def acquire(self) -> bool:
        raise Unavailable(self.error)

    def release(self) -> None:
        pass

    def retire(self) -> None:
        pass

    def configure_batching(self, max_batch_size: int, max_queue_delay_ms: float) -> None:
        pass


def _batchable(signature: dict) -> bool:
    # Rows can be merged only if every input and output has a free leading (batch) dimension.
    specs = signature["inputs"] + signature["outputs"]
    return bool(signature["inputs"]) and all(spec["shape"] and spec["shape"][0] == -1 for spec in specs)


def load_runtime(
    model: str,
    version: int,
    onnx_bytes: bytes,
    signature: dict,
    *,
    executor: Executor,
    intra_op_threads: int,
    max_batch_size: int,
    max_queue_delay_ms: float,
    max_concurrent_runs: int,
) -> ModelRuntime:
    """Create the session and warm it (batch 1, and batch 2 when batchable); Unavailable with the reason
    if ONNX Runtime cannot load or run the model, so a bad version never takes traffic."""
    import onnx
    import onnxruntime as ort

    from ..registry.signature import refuse_external_data

    label = f"{model}@{version}"
    try:  # a version stored before external data was refused at registration must not load it either
        refuse_external_data(onnx.load_from_string(onnx_bytes))
    except InvalidInput as exc:
        raise Unavailable(f"{label} cannot be served: {exc.message}") from None
    except Exception:  # not parseable by onnx: ONNX Runtime says why below
        pass
    try:
        session = ort.InferenceSession(
            onnx_bytes, sess_options=session_options(intra_op_threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise Unavailable(f"{label} failed to load in ONNX Runtime: {str(exc).strip()}") from None
    runtime = ModelRuntime(
        model, version, signature, session, executor, max_batch_size, max_queue_delay_ms, max_concurrent_runs
    )
    try:
        runtime.run_now(_warmup_feed(signature, 1))
        if runtime.batchable:
            outputs = runtime.run_now(_warmup_feed(signature, 2))
            if any(out.ndim == 0 or out.shape[0] != 2 for out in outputs.values()):
                runtime.batchable = False  # outputs do not follow the batch dimension: never merge
    except Exception as exc:
        reason = exc.message if isinstance(exc, InvalidInput) else str(exc)
        raise Unavailable(f"{label} failed its warm-up run: {reason}") from None
    return runtime


def _warmup_feed(signature: dict, rows: int) -> dict[str, np.ndarray]:
    feed = {}
    for spec in signature["inputs"]:
        shape = [rows if i == 0 and d < 0 else (d if d >= 0 else 1) for i, d in enumerate(spec["shape"])]
        if spec["datatype"] == "BYTES":
            feed[spec["name"]] = np.full(shape, "", dtype=object)
        else:
            feed[spec["name"]] = np.zeros(shape, dtype=numpy_dtype(spec["datatype"]))
    return feed
