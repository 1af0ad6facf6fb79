"""Training benchmark: the MNIST MLP trained with plain `model.fit` and through the maas train path.

    python benchmarks/training.py                  # 3 epochs, 2 rounds of each (about 3 minutes)
    python benchmarks/training.py --rounds 1       # quicker, noisier
    python benchmarks/training.py --rows 10000 --rounds 8 --no-widget-row   # many short A/B rounds

The maas path is what `%maas train` runs: Platform.train (input checks, a recorded run with per-epoch
rows in SQLite, the NaN guard, the event bridge) with the live curve widget attached, headless (its
comm goes nowhere, but every event is folded in, throttled pushes are serialised, and the closing PNG
is rendered). Both paths start from the same initial weights, use Adam (lr 0.001), batch 32, the
50 000 MNIST training rows and the 10 000 validation rows, in the same process; rounds alternate
the order so warm-up and thermal drift do not favour one side. The ratio compares the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_model(keras, initial_weights=None):
    """784 -> 128 relu -> 10 softmax, uncompiled."""
    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    )
    if initial_weights is not None:
        model.set_weights(initial_weights)
    return model


def _clocks() -> tuple[float, float]:
    # Wall time, and CPU time of this process (all its threads): on a shared machine the second is
    # far less disturbed by other people's work, and overhead is CPU work.
    return time.perf_counter(), time.process_time()


def runqueue_wait() -> float:
    """Seconds this process's threads have spent ready to run but not running (the kernel's
    /proc/PID/task/*/schedstat, second field): a round that is slow in wall time but not in CPU time
    either waited for something (this stays flat) or was crowded off the cores (this grows)."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile; no schedstats
            continue
    return total / 1e9


def outliers(rounds: list[tuple[float, float, float]]) -> list[int]:
    """Indexes of the rounds whose wall time is over 1.25x the median of their path's rounds."""
    median = statistics.median(wall for wall, _, _ in rounds)
    return [i for i, (wall, _, _) in enumerate(rounds) if wall > 1.25 * median]


def plain_fit(keras, weights, data, epochs, batch_size) -> tuple[float, float]:
    (x, y), (x_val, y_val) = data
    model = build_model(keras, weights)
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    wall, cpu, crowded = *_clocks(), runqueue_wait()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=(x_val, y_val), verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu, runqueue_wait() - crowded


def maas_train(keras, platform, weights, data, epochs, batch_size, with_widget=True):
    from maas_jupyter.widgets import LossCurveWidget

    (x, y), (x_val, y_val) = data
    model = build_model(keras, weights)
    widget = LossCurveWidget(title="benchmark") if with_widget else None
    wall, cpu, crowded = *_clocks(), runqueue_wait()
    result = platform.train(
        model,
        x,
        y,
        val=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        lr=0.001,
        listener=widget,
    )
    elapsed = time.perf_counter() - wall, time.process_time() - cpu, runqueue_wait() - crowded
    assert result.status == "finished", result.summary()
    return elapsed, {
        "pushes": widget.push_count if widget else 0,
        "val_accuracy": result.history[-1].get("val_accuracy"),
        "steps": result.steps_completed,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None, help="train on the first N rows only (quicker)")
    parser.add_argument(
        "--no-widget-row",
        action="store_true",
        help="also time the maas path without the widget (what the trainer alone costs)",
    )
    parser.add_argument("--no-warm-up", action="store_true", help="time the very first fit too")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]

    import keras

    from maas_jupyter.config import Settings
    from maas_jupyter.datasets import mnist
    from maas_jupyter.platform import Platform

    (x, y), (x_val, y_val), _ = mnist()
    if args.rows:
        x, y = x[: args.rows], y[: args.rows]
    data = ((x, y), (x_val, y_val))
    keras.utils.set_random_seed(0)
    weights = build_model(keras).get_weights()

    with tempfile.TemporaryDirectory() as home:
        platform = Platform(Settings.from_env(home))
        plain, maas, bare, details = [], [], [], {}
        variants = ["plain", "maas"] + (["bare"] if args.no_widget_row else [])
        if not args.no_warm_up:  # the first fit in a process pays TensorFlow's start-up: time neither side
            small = ((x[:2000], y[:2000]), (x_val[:500], y_val[:500]))
            plain_fit(keras, weights, small, 1, args.batch_size)
            maas_train(keras, platform, weights, small, 1, args.batch_size)
        for round_number in range(args.rounds):
            order = variants if round_number % 2 == 0 else variants[::-1]
            for which in order:
                if which == "plain":
                    plain.append(plain_fit(keras, weights, data, args.epochs, args.batch_size))
                    wall, cpu, crowded = plain[-1]
                elif which == "maas":
                    seconds, details = maas_train(keras, platform, weights, data, args.epochs, args.batch_size)
                    maas.append(seconds)
                    wall, cpu, crowded = seconds
                else:
                    seconds, _ = maas_train(keras, platform, weights, data, args.epochs, args.batch_size, False)
                    bare.append(seconds)
                    wall, cpu, crowded = seconds
                print(
                    f"  round {round_number + 1} {which:5s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
                    f"crowded off the cores {crowded:6.2f} s",
                    flush=True,
                )
        platform.close()

    plain_wall, maas_wall = statistics.median(r[0] for r in plain), statistics.median(r[0] for r in maas)
    plain_cpu, maas_cpu = statistics.median(r[1] for r in plain), statistics.median(r[1] for r in maas)
    print()
    print(
        f"MNIST MLP 784-128-10, {len(x)} rows + {len(x_val)} validation, {args.epochs} epochs, batch "
        f"{args.batch_size}, Adam 0.001, {args.rounds} round(s), median; {os.cpu_count()} CPUs, "
        f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{'path':44s} {'wall s':>8s} {'ratio':>7s} {'cpu s':>8s} {'ratio':>7s}")
    print(f"{'model.fit (verbose=0)':44s} {plain_wall:8.2f} {1.0:7.3f} {plain_cpu:8.2f} {1.0:7.3f}")
    print(
        f"{'maas train + live curve widget (headless)':44s} {maas_wall:8.2f} {maas_wall / plain_wall:7.3f} "
        f"{maas_cpu:8.2f} {maas_cpu / plain_cpu:7.3f}"
    )
    if bare:
        bare_wall, bare_cpu = statistics.median(r[0] for r in bare), statistics.median(r[1] for r in bare)
        print(
            f"{'maas train, no widget':44s} {bare_wall:8.2f} {bare_wall / plain_wall:7.3f} "
            f"{bare_cpu:8.2f} {bare_cpu / plain_cpu:7.3f}"
        )
    # Each round timed both paths minutes apart at most: the median of the rounds' own ratios is less
    # moved by a slow spell of the machine than the ratio of the medians.
    paired_wall = statistics.median(m[0] / p[0] for m, p in zip(maas, plain))
    paired_cpu = statistics.median(m[1] / p[1] for m, p in zip(maas, plain))
    print(f"{'median of the per-round ratios':44s} {'':8s} {paired_wall:7.3f} {'':8s} {paired_cpu:7.3f}")
    print(
        f"overhead: wall {100 * (maas_wall / plain_wall - 1):+.1f}%, cpu {100 * (maas_cpu / plain_cpu - 1):+.1f}%  "
        f"(widget pushes: {details.get('pushes')}, "
        f"steps: {details.get('steps')}, val_accuracy: {details.get('val_accuracy'):.4f})"
    )
    for which, rounds in (("plain", plain), ("maas", maas), ("bare", bare)):
        for i in outliers(rounds) if rounds else []:
            wall, cpu, crowded = rounds[i]
            typical = statistics.median(r[0] for r in rounds)
            print(
                f"outlier: {which} round {i + 1} took {wall:.2f} s against a median of {typical:.2f} s "
                f"(cpu {cpu:.2f} s, crowded off the cores {crowded:.2f} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
