"""Registry change events (maas_jupyter.registry.changes): whoever writes the registry database, the
watcher of a Platform publishes "registry.changed" for each model that changed, and nothing otherwise."""

from __future__ import annotations

import threading

import pytest

from maas_jupyter.config import Settings
from maas_jupyter.errors import InvalidInput
from maas_jupyter.event_schema import validate_event
from maas_jupyter.platform import Platform
from maas_jupyter.registry.changes import RegistryWatcher, compare, read_stamps

WAIT_S = 60  # a deadline for what should come in a fraction of a second, generous for a loaded machine


@pytest.fixture
def watched(maas_home):
    """A Platform watching the registry (a server), and the subscription its events arrive on."""
    platform = Platform(Settings.from_env(home=maas_home))
    subscription = platform.events.subscribe(lambda e: e["type"] == "registry.changed")
    platform.watch_registry(0.05)
    yield platform, subscription
    platform.close()


@pytest.fixture
def writer(maas_home):
    """A second Platform on the same MAAS_HOME: the kernel, job or server that changes the registry."""
    platform = Platform(Settings.from_env(home=maas_home))
    yield platform
    platform.close()


def next_change(subscription) -> tuple[str, str]:
    event = subscription.get(timeout=WAIT_S)
    assert event is not None, f"no registry.changed event within {WAIT_S} s"
    assert set(event) == {"type", "model", "change", "seq", "at"}, event
    return event["model"], event["change"]


def changes_until(subscription, marker: str) -> list[tuple[str, str]]:
    """Every change published up to and including the first one of the model `marker`."""
    seen = [next_change(subscription)]
    while seen[-1][0] != marker:
        seen.append(next_change(subscription))
    return seen


def mark(writer, subscription, make_onnx, name: str) -> list[tuple[str, str]]:
    """Register the model `name` and return what was published until its event: a pass of the watcher
    that saw every earlier write has then run, so this lists all their events (and no later ones)."""
    writer.register(name, make_onnx(seed=99))
    return changes_until(subscription, name)


def test_a_model_registered_elsewhere_is_created_then_updated_then_deleted(watched, writer, make_onnx):
    _, subscription = watched
    writer.register("m", make_onnx(seed=1), alias="staging")
    assert next_change(subscription) == ("m", "created")
    writer.register("m", make_onnx(seed=2))
    assert next_change(subscription) == ("m", "updated")
    writer.registry.delete_model("m")
    assert next_change(subscription) == ("m", "deleted")
    writer.registry.create_model("empty")  # a model without versions is a model too
    assert next_change(subscription) == ("empty", "created")
    assert mark(writer, subscription, make_onnx, "marker") == [("marker", "created")]  # nothing more came


@pytest.mark.parametrize(
    "what, write",
    [
        ("alias set", lambda r: r.set_alias("m", "production", 1)),
        ("alias moved", lambda r: r.set_alias("m", "staging", 1)),
        ("alias removed", lambda r: r.delete_alias("m", "staging")),
        ("model tags", lambda r: r.update_model("m", tags={"team": "vision"})),
        ("model description", lambda r: r.update_model("m", description="digits")),
        ("version description", lambda r: r.update_version("m", 1, description="the first")),
        ("version tags", lambda r: r.update_version("m", 2, tags={"data": "2024"})),
        ("version metrics", lambda r: r.set_version_metrics("m", 1, {"accuracy": 0.9})),
    ],
)
def test_each_kind_of_change_is_one_updated_event(watched, writer, make_onnx, what, write):
    _, subscription = watched
    writer.register("m", make_onnx(seed=1))
    writer.register("m", make_onnx(seed=2), alias="staging")
    assert next_change(subscription) == ("m", "created")
    assert mark(writer, subscription, make_onnx, "marker-1")[-1] == ("marker-1", "created")  # v2 seen too
    write(writer.registry)
    assert mark(writer, subscription, make_onnx, "marker-2") == [("m", "updated"), ("marker-2", "created")], what


def test_nothing_is_published_when_nothing_changed(watched, writer, make_onnx):
    _, subscription = watched
    writer.register("m", make_onnx(seed=1), alias="production")
    assert next_change(subscription) == ("m", "created")
    # Reads, and an alias set where it already points, change nothing anybody sees.
    writer.registry.list_models()
    writer.registry.get_version("m", "production")
    writer.registry.load_onnx("m", 1)
    writer.registry.set_alias("m", "production", 1)
    assert mark(writer, subscription, make_onnx, "marker") == [("marker", "created")]


def test_a_change_made_through_the_watching_platform_is_published_once(watched, make_onnx):
    platform, subscription = watched
    platform.register("own", make_onnx(seed=1))
    assert next_change(subscription) == ("own", "created")
    assert mark(platform, subscription, make_onnx, "marker") == [("marker", "created")]


def test_the_first_pass_publishes_nothing_for_what_was_already_there(maas_home, writer, make_onnx):
    writer.register("old", make_onnx(seed=1), alias="production")
    platform = Platform(Settings.from_env(home=maas_home))
    try:
        subscription = platform.events.subscribe(lambda e: e["type"] == "registry.changed")
        platform.watch_registry(0.05)
        assert mark(writer, subscription, make_onnx, "marker") == [("marker", "created")]
    finally:
        platform.close()


def test_a_model_deleted_and_created_again_between_two_passes_is_both(platform, writer, make_onnx):
    writer.register("m", make_onnx(seed=1))
    before = read_stamps(platform.db)
    writer.registry.delete_model("m")
    writer.register("m", make_onnx(seed=2))
    after = read_stamps(platform.db)
    assert [(e["model"], e["change"]) for e in compare(before, after)] == [("m", "deleted"), ("m", "created")]
    assert compare(after, read_stamps(platform.db)) == []


def test_closing_the_platform_stops_the_watcher_and_leaves_no_thread(maas_home, make_onnx):
    def watchers():
        return [t for t in threading.enumerate() if t.name == "maas-registry-watcher"]

    assert watchers() == []
    platform = Platform(Settings.from_env(home=maas_home))
    watcher = platform.watch_registry(0.05)
    assert platform.watch_registry(0.05) is watcher  # one per Platform
    assert watcher.running and len(watchers()) == 1
    platform.close()
    assert not watcher.running and watchers() == []


def test_a_failing_read_is_retried_and_the_watcher_carries_on(maas_home, writer, make_onnx, caplog):
    from maas_jupyter.events import EventBus

    platform = Platform(Settings.from_env(home=maas_home))
    bus = EventBus()
    subscription = bus.subscribe()
    broken = threading.Event()
    failures = threading.Semaphore(0)

    class FlakyDatabase:
        """The registry's database, failing while `broken` is set (a PostgreSQL restart)."""

        def read(self):
            if broken.is_set():
                failures.release()
                raise ConnectionError("the server closed the connection")
            return platform.db.read()

    watcher = RegistryWatcher(FlakyDatabase(), bus.publish, 0.05).start()
    try:
        broken.set()
        for _ in range(3):  # three passes failed
            assert failures.acquire(timeout=WAIT_S)
        writer.register("m", make_onnx(seed=1))
        broken.clear()
        assert next_change(subscription) == ("m", "created")
        assert watcher.running
        assert sum("cannot read the registry" in r.getMessage() for r in caplog.records) == 1  # said once
    finally:
        watcher.stop()
        platform.close()


@pytest.mark.parametrize("value, interval", [(None, 0.5), ("0.2", 0.2), ("0", None)])
def test_the_interval_comes_from_the_environment(value, interval, tmp_path):
    environ = {} if value is None else {"MAAS_REGISTRY_EVENTS_S": value}
    assert Settings.from_env(home=tmp_path, environ=environ).registry_events_interval == interval
    with pytest.raises(InvalidInput, match="MAAS_REGISTRY_EVENTS_S must be a number of at least 0; it is 'often'"):
        Settings.from_env(home=tmp_path, environ={"MAAS_REGISTRY_EVENTS_S": "often"})


def test_maas_serve_streams_registry_changes_and_stops_cleanly(maas_home, writer, make_onnx, tmp_path):
    """A real `maas serve`: a registration by another process reaches its /api/events; SIGTERM then
    stops it with its watcher, exit code 0 and nothing logged as an error."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import orjson
    import requests
    import websocket
    from helpers import free_port, stop_process

    port, token = free_port(), "registry-changes-token"
    env = {**os.environ, "MAAS_HOME": str(maas_home), "MAAS_TOKEN": token, "MAAS_REGISTRY_EVENTS_S": "0.1"}
    env.pop("MAAS_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "maas_jupyter.cli", "serve", "--http-port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                ready = requests.get(
                    f"http://127.0.0.1:{port}/v2/health/ready", timeout=2, headers={"Authorization": f"Bearer {token}"}
                )
                if ready.status_code == 200:
                    ready_at = len(log.read_bytes())  # earlier, "not ready yet" answers were logged as errors
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"maas serve was not ready: {log.read_text()}"
            time.sleep(0.1)
        stream = websocket.create_connection(
            f"ws://127.0.0.1:{port}/api/events", timeout=WAIT_S, header=[f"Authorization: Bearer {token}"]
        )
        try:
            writer.register("served", make_onnx(seed=1), alias="production")
            while (event := orjson.loads(stream.recv()))["type"] != "registry.changed":
                pass
        finally:
            stream.close()
        assert (event["model"], event["change"]) == ("served", "created")
        validate_event(event)  # as the stream's clients receive it, not only as the bus carries it
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
    finally:
        stop_process(process, grace_s=20)  # still running only when a step above failed
    after_ready = log.read_bytes()[ready_at:].decode(errors="replace")
    assert "Traceback" not in after_ready and " ERROR " not in after_ready, after_ready
