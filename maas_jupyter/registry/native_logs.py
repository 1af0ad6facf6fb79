"""Keeping TensorFlow's native INFO and WARNING lines out of a registration's output.

TensorFlow's C++ side writes to file descriptor 2 directly (a notebook shows those lines in red), and it
reads TF_CPP_MIN_LOG_LEVEL once, when it is imported: a conversion in a kernel that imported TensorFlow
without it prints grappler's "Starting new session" lines on every registration. Python's logging and
sys.stderr cannot reach them, so the descriptor itself is lent to a temporary file for the duration, and
what is not one of those lines (an error, a Python warning) is written back afterwards.

TensorFlow 2.21 also writes its start-up lines (oneDNN, the CPU features it could use) through absl,
which ignores TF_CPP_MIN_LOG_LEVEL, on CPUs where they apply (AVX-512 and AMX ones, for instance):
`quiet_first_tensorflow_import` drops those from whichever import comes first, the user's own
`import keras` included.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
import threading

# glog/absl line heads: I or W, MMDD, time, thread id, file:line]. E and F (errors, fatal) are kept.
_NOISE = re.compile(
    r"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    # the second line of cpu_feature_guard's "This TensorFlow binary is optimized…"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)
_LOCK = threading.Lock()


def keep(line: str) -> bool:
    """Whether a line that TensorFlow's native side wrote is worth showing."""
    return not _NOISE.match(line)


@contextlib.contextmanager
def quiet_native_logs():
    """Drop TensorFlow's native INFO/WARNING lines written during the block; pass everything else on."""
    if not _LOCK.acquire(blocking=False):  # another thread holds fd 2 already: its block filters for both
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = [
                    line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True) if keep(line)
                ]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
    finally:
        _LOCK.release()


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with its native start-up lines dropped."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with quiet_native_logs():
            self._loader.exec_module(module)


class _FirstTensorflowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, as the path finder would, and hands back a spec whose loader is quiet."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # only the first import: later ones find the module in sys.modules
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_first_tensorflow_import() -> None:
    """Drop the native start-up lines of TensorFlow's import, whoever imports it first (not yet imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _FirstTensorflowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _FirstTensorflowImport())
