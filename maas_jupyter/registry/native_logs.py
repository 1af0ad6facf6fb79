"""Keeping TensorFlow's native INFO and WARNING lines out of a registration's output.

TensorFlow's C++ side writes to file descriptor 2 directly (a notebook shows those lines in red), and it
reads TF_CPP_MIN_LOG_LEVEL once, when it is imported: a conversion in a kernel that imported TensorFlow
without it prints grappler's "Starting new session" lines on every registration. Python's logging and
sys.stderr cannot reach them, so the descriptor itself is lent to a temporary file for the duration, and
what is not one of those lines (an error, a Python warning) is written back afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading

# glog/absl line heads: I or W, MMDD, time, thread id, file:line]. E and F (errors, fatal) are kept.
_NOISE = re.compile(r"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\]"
                    r"|WARNING: All log messages before absl::InitializeLog\(\) is called)")
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
                kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                        if keep(line)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
    finally:
        _LOCK.release()
