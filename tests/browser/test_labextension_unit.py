"""The sidebar's TypeScript data layer (jest, labextension/src/__tests__), run from the pytest suite so
the one test command covers it. Needs labextension/node_modules, which the editable install creates."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"

pytestmark = pytest.mark.slow


def test_jest_unit_tests_of_the_sidebar_data_layer():
    if not (LABEXTENSION / "node_modules" / "jest").is_dir():
        pytest.fail(
            "labextension/node_modules is missing: run `jlpm install` there (pip install -e . does it)", pytrace=False
        )
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "CI": "true",
    }
    done = subprocess.run(
        ["jlpm", "test", "--ci"], cwd=LABEXTENSION, env=env, capture_output=True, text=True, timeout=600
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    summary = re.search(r"Tests:\s+(.*)", output)
    assert summary and "failed" not in summary.group(1) and re.search(r"\d+ passed", summary.group(1)), output[-3000:]
