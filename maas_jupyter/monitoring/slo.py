"""The SLO guard: a canary that breaks its bounds loses its traffic, automatically.

Checked periodically inside the serving process, against the metrics of the window since the canary
took traffic (so data of an earlier canary of the same version never condemns a new one). A breach calls
the deployments' cancel-canary operation (recorded in the endpoint's history with the reason and the
actor "maas-slo-guard") and publishes a "deployment.canary_rollback" event on the platform's bus. Each
endpoint's passes are counted, with the last verdict, so a client can tell "kept" from "never looked".
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from ..errors import Conflict, InvalidInput, NotFound
from ..event_types import CanaryRollback, Observed
from .metrics import MetricsStore

log = logging.getLogger("maas.slo")

ACTOR = "maas-slo-guard"
MIN_P99_REQUESTS = 100
EVENT_TYPE = "deployment.canary_rollback"
# What a pass concluded about one canary; the last three are verdicts on a window with enough requests.
DISABLED, TOO_NEW, TOO_FEW_REQUESTS = "disabled", "too_new", "too_few_requests"
WITHIN_BOUNDS, ROLLED_BACK, SUPERSEDED = "within_bounds", "rolled_back", "superseded"
JUDGED = frozenset({WITHIN_BOUNDS, ROLLED_BACK, SUPERSEDED})


@dataclass(frozen=True)
class CanaryBounds:
    """What a canary must keep over `window_s` once it has served `min_requests` requests."""

    enabled: bool = True
    max_failure_rate: float = 0.05  # share of requests answered 5xx or failed inside the model
    max_p99_ratio: float = 3.0  # canary p99 latency over the primary's, same window
    # ...and by at least this much: at sub-millisecond latencies a 3x ratio is scheduling noise, not a slow model.
    min_p99_excess_ms: float = 5.0
    window_s: float = 30.0
    min_requests: int = 20

    @classmethod
    def from_dict(cls, value: dict | None) -> CanaryBounds:
        """Bounds from JSON (unknown keys or wrong types are InvalidInput); missing keys keep defaults."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise InvalidInput("canary bounds must be an object")
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise InvalidInput(f"unknown bound(s) {', '.join(unknown)}; known: {', '.join(known)}")
        merged = {**asdict(cls()), **value}
        if not isinstance(merged["enabled"], bool):
            raise InvalidInput("enabled must be true or false")
        for key in ("max_failure_rate", "max_p99_ratio", "min_p99_excess_ms", "window_s", "min_requests"):
            if isinstance(merged[key], bool) or not isinstance(merged[key], (int, float)) or merged[key] < 0:
                raise InvalidInput(f"{key} must be a non-negative number")
        if merged["window_s"] < 1 or merged["max_p99_ratio"] <= 0:
            raise InvalidInput("window_s must be at least 1 and max_p99_ratio above 0")
        merged["min_requests"] = int(merged["min_requests"])
        return cls(**merged)

    def to_dict(self) -> dict:
        return asdict(self)


def judge(bounds: CanaryBounds, canary: dict, primary: dict) -> str | None:
    """The reason the canary's window stats break the bounds, or None while it keeps them (or is too new)."""
    if canary["requests"] < max(1, bounds.min_requests):
        return None
    failure_rate = canary["failure_rate"] or 0.0
    if failure_rate > bounds.max_failure_rate:
        return (
            f"failure rate {failure_rate:.1%} over {canary['requests']} requests is above the bound "
            f"{bounds.max_failure_rate:.1%}"
        )
    # A p99 of fewer than 100 requests is their slowest one or two: one scheduling hiccup on a busy machine
    # would pull a healthy canary. Latency is judged once both sides have that many in the window.
    enough = max(bounds.min_requests, MIN_P99_REQUESTS)
    if (
        canary["requests"] >= enough
        and primary["requests"] >= enough
        and canary["p99_ms"] is not None
        and primary["p99_ms"] is not None
        and primary["p99_ms"] > 0
    ):
        ratio = canary["p99_ms"] / primary["p99_ms"]
        if ratio > bounds.max_p99_ratio and canary["p99_ms"] - primary["p99_ms"] > bounds.min_p99_excess_ms:
            return (
                f"p99 latency {canary['p99_ms']:.2f} ms is {ratio:.1f}x the primary's {primary['p99_ms']:.2f} ms; "
                f"the bound is {bounds.max_p99_ratio:g}x"
            )
    return None


class SloGuard:
    """Checks every endpoint's canary against its bounds and rolls it back on a breach."""

    def __init__(
        self,
        metrics: MetricsStore,
        deployments,
        bounds_for: Callable[[str], CanaryBounds],
        publish: Callable[[CanaryRollback], object] | None = None,
        clock: Callable[[], float] | None = None,
        interval_s: float = 1.0,
    ):
        self.metrics = metrics
        self.deployments = deployments
        self.bounds_for = bounds_for
        self.publish = publish
        self.clock = clock or metrics.clock
        self.interval_s = interval_s
        self.rollbacks: collections.deque[CanaryRollback] = collections.deque(maxlen=100)
        self._canary_since: dict[tuple, float] = {}  # (endpoint, canary version, state's updated_at) -> first seen
        self._evaluations: dict[str, dict] = {}  # endpoint -> {"passes", "judged", "last"} (see evaluation)
        self._evaluations_lock = threading.Lock()  # written by the guard's thread, read by request handlers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_all(self) -> list[CanaryRollback]:
        """One pass over every endpoint with a canary; the rollbacks it made."""
        done = []
        seen = set()
        states = self.deployments.list()
        for state in states:
            canary = state.get("canary")
            if not canary or not canary.get("weight"):
                continue
            # The stored state's updated_at changes with every change of the endpoint: a canary set again
            # (the same version, moments after a rollback) starts a fresh window instead of inheriting the
            # requests its previous stint failed.
            key = (state["name"], int(canary["version"]), state.get("updated_at"))
            seen.add(key)
            verdict = self.check(state["name"], int(state["version"]), key[1], since_key=key)
            if verdict is not None:
                done.append(verdict)
        for key in [k for k in self._canary_since if k not in seen]:
            del self._canary_since[key]  # that canary is gone: a new one starts a fresh window
        with self._evaluations_lock:
            for name in set(self._evaluations) - {state["name"] for state in states}:
                del self._evaluations[name]  # undeployed: its record goes with it
        return done

    def check(self, endpoint: str, primary_version: int, canary_version: int, since_key=None) -> CanaryRollback | None:
        """Judge one canary; roll it back and return the event if it breaks its bounds."""
        bounds = self.bounds_for(endpoint)
        if not bounds.enabled:
            self._note(endpoint, primary_version, canary_version, DISABLED)
            return None
        now = self.clock()
        since = self._canary_since.setdefault(since_key or (endpoint, canary_version), now)
        # Whole seconds after the one the canary was first seen in: older data belongs to someone else.
        window = min(bounds.window_s, int(now) - int(since))
        if window < 1:
            self._note(endpoint, primary_version, canary_version, TOO_NEW)
            return None
        canary = self.metrics.window_stats(endpoint, canary_version, window, now)
        primary = self.metrics.window_stats(endpoint, primary_version, window, now)
        reason = judge(bounds, canary, primary)
        if reason is None:
            enough = canary["requests"] >= max(1, bounds.min_requests)
            self._note(
                endpoint,
                primary_version,
                canary_version,
                WITHIN_BOUNDS if enough else TOO_FEW_REQUESTS,
                window,
                canary,
                primary,
            )
            return None
        event = self._roll_back(endpoint, primary_version, canary_version, reason, bounds, canary, primary)
        self._note(
            endpoint,
            primary_version,
            canary_version,
            ROLLED_BACK if event else SUPERSEDED,
            window,
            canary,
            primary,
            reason,
        )
        return event

    def _note(
        self,
        endpoint: str,
        primary_version: int,
        canary_version: int,
        verdict: str,
        window=None,
        canary: dict | None = None,
        primary: dict | None = None,
        reason: str | None = None,
    ) -> None:
        last = {
            "at": self.clock(),
            "verdict": verdict,
            "primary_version": primary_version,
            "canary_version": canary_version,
            "window_s": window,
            "reason": reason,
            "canary_requests": canary["requests"] if canary else None,
            "primary_requests": primary["requests"] if primary else None,
        }
        with self._evaluations_lock:
            record = self._evaluations.setdefault(endpoint, {"passes": 0, "judged": 0, "last": None})
            record["passes"] += 1
            record["judged"] += verdict in JUDGED
            record["last"] = last

    def evaluation(self, endpoint: str) -> dict | None:
        """How often the guard has looked at the endpoint's canaries in this process: {"passes", "judged"
        (passes whose window held enough canary requests for a verdict), "last": {"at", "verdict",
        "primary_version", "canary_version", "window_s", "canary_requests", "primary_requests", "reason"}};
        None if it never has."""
        with self._evaluations_lock:
            record = self._evaluations.get(endpoint)
            return None if record is None else {**record, "last": dict(record["last"])}

    def _roll_back(
        self, endpoint, primary_version, canary_version, reason, bounds, canary, primary
    ) -> CanaryRollback | None:
        text = f"canary version {canary_version} broke its bounds: {reason}"
        try:
            current = self.deployments.get(endpoint).get("canary")
            if not current or int(current["version"]) != canary_version:
                return None  # someone promoted or replaced it meanwhile: nothing of ours to undo
            self.deployments.cancel_canary(endpoint, actor=ACTOR, reason=text)
        except (NotFound, Conflict):
            return None
        for key in [k for k in self._canary_since if k[:2] == (endpoint, canary_version)]:
            del self._canary_since[key]
        event: CanaryRollback = {
            "type": "deployment.canary_rollback",
            "endpoint": endpoint,
            "canary_version": canary_version,
            "primary_version": primary_version,
            "reason": text,
            "bounds": bounds.to_dict(),
            "canary": _observed(canary),
            "primary": _observed(primary),
            "at": self.clock(),
        }
        self.rollbacks.append(event)
        log.warning("endpoint %s: %s; traffic returned to version %s", endpoint, text, primary_version)
        if self.publish is not None:
            self.publish(event)
        return event

    # ---- running periodically -------------------------------------------------------------------

    def start(self) -> SloGuard:
        """Check every `interval_s` seconds in a daemon thread until `stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="maas-slo-guard", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check_all()
            except Exception:  # a failed pass must not end the guard; the next one may succeed
                log.exception("SLO guard pass failed")

    def stop(self) -> None:
        """Stop the periodic checks."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _observed(stats: dict) -> Observed:
    return {
        "requests": int(stats.get("requests") or 0),
        "failure_rate": stats.get("failure_rate"),
        "error_rate": stats.get("error_rate"),
        "p99_ms": stats.get("p99_ms"),
        "throughput": stats.get("throughput"),
    }
