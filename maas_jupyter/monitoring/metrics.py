"""Serving metrics per endpoint and version, recorded without locks on the hot path.

The serving path only appends small tuples to a per-version deque (a single `deque.append` is atomic in
CPython, so concurrent threads need no lock). A reader — the aggregator thread every half second, or any
call that reads — drains the deques under the store's own lock and folds the events into per-second
slots of a ring (the last RETENTION_S seconds) and into running totals for Prometheus. Latencies go into
fixed log-spaced buckets (20 per decade, about 12% apart), so percentiles over any window come from
summed histograms, interpolated within a bucket, and memory stays flat however long a server runs.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

import numpy as np

# Upper bounds of the latency buckets in seconds: 10 µs to 100 s, the R20 series per decade (it holds
# 1, 2 and 2.5 and 5 exactly, so the coarser Prometheus buckets are exact sums of these).
_MANTISSAS = (1.0, 1.12, 1.25, 1.4, 1.6, 1.8, 2.0, 2.25, 2.5, 2.8, 3.2, 3.6, 4.0, 4.5, 5.0, 5.6, 6.3, 7.1, 8.0, 9.0)
LATENCY_BOUNDS = np.array([round(m * 10.0**e, 12) for e in range(-5, 2) for m in _MANTISSAS] + [100.0])
N_BUCKETS = len(LATENCY_BOUNDS) + 1  # the last bucket holds everything above 100 s
BATCH_BOUNDS = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536], dtype=float)
RETENTION_S = 600
AGGREGATE_EVERY_S = 0.5

_MAX_PENDING = (
    3_600_000  # numbers per kind waiting for the reader: a multiple of 2, 3 and 4, so a full deque drops whole events
)


def bucket_of(values: np.ndarray, bounds: np.ndarray = LATENCY_BOUNDS) -> np.ndarray:
    """Index of the bucket each value falls in (value <= bound)."""
    return np.searchsorted(bounds, values, side="left")


def percentile_from_histogram(counts: np.ndarray, q: float, bounds: np.ndarray = LATENCY_BOUNDS) -> float | None:
    """The q-quantile (0..1) of a bucketed distribution, linear within the bucket; None when empty."""
    total = int(counts.sum())
    if total == 0:
        return None
    rank = q * total
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, rank, side="left"))
    i = min(i, len(counts) - 1)
    lower = bounds[i - 1] if i > 0 else 0.0
    upper = bounds[i] if i < len(bounds) else bounds[-1]
    before = cumulative[i - 1] if i > 0 else 0
    inside = counts[i]
    fraction = 0.0 if inside == 0 else (rank - before) / inside
    return float(lower + (upper - lower) * min(max(fraction, 0.0), 1.0))


class _Totals:
    """Running totals since the recorder was created (what Prometheus counters expose)."""

    def __init__(self):
        self.started = 0
        self.finished = 0
        self.by_code: dict[str, int] = {}
        self.model_failures = 0
        self.latency = np.zeros(N_BUCKETS, dtype=np.int64)
        self.latency_sum = 0.0
        self.queue = np.zeros(N_BUCKETS, dtype=np.int64)
        self.queue_sum = 0.0
        self.ort = np.zeros(N_BUCKETS, dtype=np.int64)
        self.ort_sum = 0.0
        self.batch = np.zeros(len(BATCH_BOUNDS) + 1, dtype=np.int64)
        self.rows = 0


class _SecondRing:
    """Per-second aggregates of the last RETENTION_S seconds; slot i holds second `second[i]`."""

    def __init__(self, retention_s: int):
        self.n = retention_s
        self.second = np.full(retention_s, -1, dtype=np.int64)
        self.requests = np.zeros(retention_s, dtype=np.int64)
        self.errors = np.zeros(retention_s, dtype=np.int64)  # answers that were not 200
        self.model_failures = np.zeros(retention_s, dtype=np.int64)
        self.server_errors = np.zeros(retention_s, dtype=np.int64)  # 5xx
        self.latency = np.zeros((retention_s, N_BUCKETS), dtype=np.int32)
        self.latency_sum = np.zeros(retention_s)
        self.queue_sum = np.zeros(retention_s)
        self.queue_count = np.zeros(retention_s, dtype=np.int64)
        self.ort_sum = np.zeros(retention_s)
        self.runs = np.zeros(retention_s, dtype=np.int64)
        self.rows = np.zeros(retention_s, dtype=np.int64)

    def slots(self, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slot index per second and which events to keep: a slot is cleared when a newer second takes
        it; events of a second older than the one a slot holds now (beyond the retention) are dropped."""
        for s in np.unique(seconds):  # ascending, so the newest second of a slot wins
            i = int(s) % self.n
            if self.second[i] < s:
                self.second[i] = s
                for array in (
                    self.requests,
                    self.errors,
                    self.model_failures,
                    self.server_errors,
                    self.latency,
                    self.latency_sum,
                    self.queue_sum,
                    self.queue_count,
                    self.ort_sum,
                    self.runs,
                    self.rows,
                ):
                    array[i] = 0
        index = (seconds % self.n).astype(np.int64)
        return index, self.second[index] == seconds

    def window(self, first: int, last: int) -> np.ndarray:
        """Slot index per second from `first` to `last` inclusive; -1 where the ring holds no such second."""
        seconds = np.arange(first, last + 1)
        index = seconds % self.n
        return np.where(self.second[index] == seconds, index, -1)


class VersionRecorder:
    """What the serving path records for one endpoint version; every method is one deque append."""

    __slots__ = (
        "endpoint",
        "version",
        "_starts",
        "_finishes",
        "_runs",
        "_queues",
        "_clock",
        "totals",
        "ring",
        "last_seen",
        "retired",
    )

    def __init__(self, endpoint: str, version: str, clock: Callable[[], float], retention_s: int):
        self.endpoint = endpoint
        self.version = version
        # One deque per kind of event, so the reader needs no sorting; each has a safety cap: if no
        # reader drained for a long time, the oldest events go rather than memory.
        self._starts: collections.deque = collections.deque(maxlen=_MAX_PENDING)
        self._finishes: collections.deque = collections.deque(maxlen=_MAX_PENDING)
        self._runs: collections.deque = collections.deque(maxlen=_MAX_PENDING)
        self._queues: collections.deque = collections.deque(maxlen=_MAX_PENDING)
        self._clock = clock
        self.totals = _Totals()
        self.ring = _SecondRing(retention_s)
        self.last_seen = clock()
        self.retired = False  # set when the store forgets it: holders must ask the store for a new one

    # Each event is one `extend` of a few numbers: atomic in CPython (a C loop over a tuple), so a deque's
    # length is always a whole number of events, and the numbers it holds are not objects the garbage
    # collector tracks (tuples kept for half a second would be, and would make its passes longer).

    def started(self) -> None:
        """A request entered the endpoint (counts toward in-flight until `finished`)."""
        self._starts.append(None)

    def finished(self, latency_s: float, code: int = 200, model_failed: bool = False) -> None:
        """A request left with this status code after `latency_s` seconds."""
        self._finishes.extend((self._clock(), latency_s, code, model_failed))

    def ran(self, rows: int, ort_s: float) -> None:
        """One ONNX Runtime run of `rows` rows took `ort_s` seconds."""
        self._runs.extend((self._clock(), rows, ort_s))

    def queued(self, queue_s: float) -> None:
        """A request waited `queue_s` seconds between reaching the model and its run starting."""
        self._queues.extend((self._clock(), queue_s))

    # ---- reader side (called with the store's lock held) ----------------------------------------

    @staticmethod
    def _take(events: collections.deque, width: int = 1) -> np.ndarray:
        """The pending events as a rows x width float array; popleft is atomic, so events appended while
        this runs stay for the next drain."""
        count = len(events) // width * width
        flat = np.fromiter((events.popleft() for _ in range(count)), dtype=np.float64, count=count)
        return flat.reshape(-1, width)

    def drain(self) -> None:
        totals, ring = self.totals, self.ring
        starts = len(self._starts)
        for _ in range(starts):
            self._starts.popleft()
        totals.started += starts
        table = self._take(self._finishes, 4)  # columns: at, latency, code, model_failed
        if len(table):
            at, latency, code, failed = table[:, 0], table[:, 1], table[:, 2].astype(np.int64), table[:, 3] > 0
            buckets = bucket_of(latency)
            totals.finished += len(latency)
            np.add.at(totals.latency, buckets, 1)
            totals.latency_sum += float(latency.sum())
            for value, count in zip(*np.unique(code, return_counts=True)):
                totals.by_code[str(int(value))] = totals.by_code.get(str(int(value)), 0) + int(count)
            totals.model_failures += int(failed.sum())
            slots, keep = ring.slots(np.floor(at).astype(np.int64))
            slots, code, failed, buckets, kept_latency = (
                slots[keep],
                code[keep],
                failed[keep],
                buckets[keep],
                latency[keep],
            )
            np.add.at(ring.requests, slots, 1)
            np.add.at(ring.errors, slots, (code != 200).astype(np.int64))
            np.add.at(ring.server_errors, slots, (code >= 500).astype(np.int64))
            np.add.at(ring.model_failures, slots, failed.astype(np.int64))
            np.add.at(ring.latency, (slots, buckets), 1)
            np.add.at(ring.latency_sum, slots, kept_latency)
            self.last_seen = float(at.max())
        table = self._take(self._runs, 3)  # columns: at, rows, ort seconds
        if len(table):
            at, rows, ort = table[:, 0], table[:, 1].astype(np.int64), table[:, 2]
            np.add.at(totals.ort, bucket_of(ort), 1)
            totals.ort_sum += float(ort.sum())
            np.add.at(totals.batch, bucket_of(rows.astype(float), BATCH_BOUNDS), 1)
            totals.rows += int(rows.sum())
            slots, keep = ring.slots(np.floor(at).astype(np.int64))
            np.add.at(ring.ort_sum, slots[keep], ort[keep])
            np.add.at(ring.runs, slots[keep], 1)
            np.add.at(ring.rows, slots[keep], rows[keep])
        table = self._take(self._queues, 2)  # columns: at, queue seconds
        if len(table):
            at, queue = table[:, 0], table[:, 1]
            np.add.at(totals.queue, bucket_of(queue), 1)
            totals.queue_sum += float(queue.sum())
            slots, keep = ring.slots(np.floor(at).astype(np.int64))
            np.add.at(ring.queue_sum, slots[keep], queue[keep])
            np.add.at(ring.queue_count, slots[keep], 1)

    @property
    def in_flight(self) -> int:
        return max(0, self.totals.started - self.totals.finished)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else float(numerator) / float(denominator)


class MetricsStore:
    """Every endpoint version's recorder, the aggregator thread, and the read API (windows, series)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        retention_s: int = RETENTION_S,
        aggregate_every_s: float | None = AGGREGATE_EVERY_S,
    ):
        self.clock = clock
        self.retention_s = retention_s
        self.aggregate_every_s = aggregate_every_s
        self._recorders: dict[tuple[str, str], VersionRecorder] = {}
        self._lock = threading.Lock()  # readers and recorder creation only; never taken by the hot path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def recorder(self, endpoint: str, version) -> VersionRecorder:
        """The recorder of endpoint@version, created on first use (callers cache it)."""
        key = (endpoint, str(version))
        found = self._recorders.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._recorders.get(key)
            if found is None:
                found = self._recorders[key] = VersionRecorder(endpoint, str(version), self.clock, self.retention_s)
            self._start_aggregator()
            return found

    def _start_aggregator(self) -> None:
        if self._thread is not None or not self.aggregate_every_s:
            return
        self._thread = threading.Thread(target=self._aggregate_forever, name="maas-metrics", daemon=True)
        self._thread.start()

    def _aggregate_forever(self) -> None:
        while not self._stop.wait(self.aggregate_every_s):
            self.aggregate()

    def aggregate(self) -> None:
        """Fold every pending event into the per-second ring and totals; forget long-idle recorders."""
        with self._lock:
            now = self.clock()
            for key, recorder in list(self._recorders.items()):
                recorder.drain()
                if recorder.in_flight == 0 and now - recorder.last_seen > self.retention_s:
                    recorder.retired = True
                    del self._recorders[key]  # nothing of it is left in any window

    def close(self) -> None:
        """Stop the aggregator thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- reading ----------------------------------------------------------------------------------

    def endpoints(self) -> list[str]:
        """Endpoints that have recorded anything still retained."""
        self.aggregate()
        return sorted({endpoint for endpoint, _ in self._recorders})

    def recorders(self, endpoint: str | None = None) -> list[VersionRecorder]:
        """Drained recorders (of one endpoint, or all), by endpoint then version number."""
        self.aggregate()
        with self._lock:
            found = [r for (e, _), r in self._recorders.items() if endpoint is None or e == endpoint]
        return sorted(found, key=lambda r: (r.endpoint, int(r.version) if r.version.isdigit() else math.inf))

    def window_stats(self, endpoint: str, version, window_s: float, now: float | None = None) -> dict:
        """Aggregates of endpoint@version over the last `window_s` seconds (the current second included)."""
        recorder = self._recorders.get((endpoint, str(version)))
        if recorder is None:
            return _empty_stats(window_s)
        self.aggregate()
        with self._lock:
            return _stats(recorder, window_s, self.clock() if now is None else now)

    def series(self, endpoint: str, window_s: int = 60, now: float | None = None) -> dict:
        """Per-second points of the last `window_s` seconds per version, plus the window's summary."""
        window_s = int(max(1, min(window_s, self.retention_s)))
        recorders = self.recorders(endpoint)
        now = self.clock() if now is None else now
        last = int(math.floor(now))
        first = last - window_s + 1
        versions = {}
        with self._lock:
            for recorder in recorders:
                ring = recorder.ring
                index = ring.window(first, last)
                present = index >= 0
                safe = np.where(present, index, 0)

                def column(array, present=present, safe=safe):
                    return np.where(present, array[safe], 0)

                requests = column(ring.requests)
                if not requests.any() and recorder.in_flight == 0:
                    continue  # nothing in this window: the version does not appear
                latency = np.where(present[:, None], ring.latency[safe], 0)
                runs, rows = column(ring.runs), column(ring.rows)
                queue_count = column(ring.queue_count)
                points = {
                    "t": list(range(first, last + 1)),
                    "requests": requests.tolist(),
                    "errors": column(ring.errors).tolist(),
                    "throughput": requests.astype(float).tolist(),  # requests per second, one point per second
                    "p50_ms": [_ms(percentile_from_histogram(h, 0.50)) for h in latency],
                    "p95_ms": [_ms(percentile_from_histogram(h, 0.95)) for h in latency],
                    "p99_ms": [_ms(percentile_from_histogram(h, 0.99)) for h in latency],
                    "mean_batch_size": [_ratio(r, n) for r, n in zip(rows, runs)],
                    "queue_ms": [_ms(_ratio(s, n)) for s, n in zip(column(ring.queue_sum), queue_count)],
                    "ort_ms": [_ms(_ratio(s, n)) for s, n in zip(column(ring.ort_sum), runs)],
                }
                versions[recorder.version] = {"points": points, "summary": _stats(recorder, window_s, now)}
        return {"endpoint": endpoint, "window_s": window_s, "now": now, "versions": versions}


def _empty_stats(window_s: float) -> dict:
    return {
        "window_s": window_s,
        "requests": 0,
        "errors": 0,
        "server_errors": 0,
        "model_failures": 0,
        "error_rate": None,
        "failure_rate": None,
        "throughput": 0.0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "mean_latency_ms": None,
        "mean_batch_size": None,
        "queue_ms": None,
        "ort_ms": None,
        "in_flight": 0,
        "total_requests": 0,
    }


def _stats(recorder: VersionRecorder, window_s: float, now: float) -> dict:
    ring = recorder.ring
    last = int(math.floor(now))
    first = last - int(math.ceil(window_s)) + 1
    index = ring.window(first, last)
    index = index[index >= 0]
    requests = int(ring.requests[index].sum())
    errors = int(ring.errors[index].sum())
    server_errors = int(ring.server_errors[index].sum())
    failures = int(ring.model_failures[index].sum())
    histogram = ring.latency[index].sum(axis=0)
    runs = int(ring.runs[index].sum())
    queue_count = int(ring.queue_count[index].sum())
    return {
        "window_s": window_s,
        "requests": requests,
        "errors": errors,
        "server_errors": server_errors,
        "model_failures": failures,
        "error_rate": _ratio(errors, requests),
        # What a canary is judged on: the server or the model failed, not the caller's input.
        "failure_rate": _ratio(server_errors + failures, requests),
        "throughput": requests / float(window_s),
        "p50_ms": _ms(percentile_from_histogram(histogram, 0.50)),
        "p95_ms": _ms(percentile_from_histogram(histogram, 0.95)),
        "p99_ms": _ms(percentile_from_histogram(histogram, 0.99)),
        "mean_latency_ms": _ms(_ratio(float(ring.latency_sum[index].sum()), requests)),
        "mean_batch_size": _ratio(int(ring.rows[index].sum()), runs),
        "queue_ms": _ms(_ratio(float(ring.queue_sum[index].sum()), queue_count)),
        "ort_ms": _ms(_ratio(float(ring.ort_sum[index].sum()), runs)),
        "in_flight": recorder.in_flight,
        "total_requests": recorder.totals.finished,
    }
