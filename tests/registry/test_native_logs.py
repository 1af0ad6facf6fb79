"""TensorFlow's native INFO/WARNING lines stay out of a registration's output; errors still show."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from maas_jupyter.registry.native_logs import keep, quiet_native_logs

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796102622.524070   19123 single_machine.cc:376] Starting new session\n",
    "W1201 05:13:26.123456    4242 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n",
]
KEPT = [
    "E0000 00:00:1796102622.524070   19123 some_kernel.cc:12] a real error\n",
    "UserWarning: something the user should read\n",
    "Information about I0000 in the middle of a line\n",
]


@pytest.mark.parametrize("line", NOISE)
def test_info_and_warning_lines_are_dropped(line):
    assert not keep(line)


@pytest.mark.parametrize("line", KEPT)
def test_errors_and_anything_else_are_kept(line):
    assert keep(line)


def test_the_block_filters_what_reaches_file_descriptor_2(capfd):
    with quiet_native_logs():
        for line in NOISE + KEPT:
            os.write(2, line.encode())
    err = capfd.readouterr().err
    assert err == "".join(KEPT)
    os.write(2, NOISE[1].encode())  # after the block, descriptor 2 is the process's own again
    assert capfd.readouterr().err == NOISE[1]


def test_an_exception_in_the_block_restores_descriptor_2(capfd):
    with pytest.raises(RuntimeError):
        with quiet_native_logs():
            os.write(2, KEPT[0].encode())
            raise RuntimeError("boom")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == KEPT[0] + "after\n"


@pytest.mark.slow
def test_a_first_session_prints_no_tensorflow_lines(tmp_path):
    """As the README's first session runs in a fresh kernel: the extension loaded, then Keras imported,
    a model compiled and registered twice (the second time TensorFlow is warm)."""
    script = textwrap.dedent("""
        from IPython.testing.globalipapp import start_ipython
        shell = start_ipython()
        shell.run_line_magic("load_ext", "maas_jupyter")
        import numpy as np, keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        shell.user_ns["model"] = model
        shell.run_line_magic("maas", "register model --name quiet")
        shell.run_line_magic("maas", "register model --name quiet-again")
        print("done")
    """)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL" and not k.startswith("MAAS_")}
    env["MAAS_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "registered quiet@1" in done.stdout and "registered quiet-again@1" in done.stdout
    tensorflow_lines = [line for line in done.stderr.splitlines() if not keep(line + "\n") or ".cc:" in line]
    assert tensorflow_lines == [], done.stderr


@pytest.mark.slow
def test_a_registration_after_tensorflow_was_imported_noisily_is_quiet(tmp_path):
    """TensorFlow imported without TF_CPP_MIN_LOG_LEVEL (the extension came too late): its import may
    print, a registration does not."""
    script = textwrap.dedent("""
        import sys, keras
        from maas_jupyter.platform import Platform
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        platform = Platform()
        sys.stderr.write("--- registering\\n"); sys.stderr.flush()
        print(platform.register("m", model)["version"])
    """)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL" and not k.startswith("MAAS_")}
    env["MAAS_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr
    assert done.stderr.split("--- registering\n", 1)[1] == ""
