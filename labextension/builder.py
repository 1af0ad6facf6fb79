"""hatch-jupyter-builder build function that finds jlpm and jupyter in the installing interpreter's venv.

`.venv/bin/pip install -e .` without an activated venv leaves `.venv/bin` off PATH (with
--no-build-isolation pip adds nothing to it), so neither `jlpm` nor the `jupyter labextension build`
that package.json runs would be found. Put this interpreter's scripts folder first, then delegate.
"""

import os
import sys
import sysconfig

from hatch_jupyter_builder import npm_builder as _npm_builder


def npm_builder(target_name, version, **kwargs):
    """Run hatch_jupyter_builder.npm_builder with the venv's scripts folder on PATH."""
    folders = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    os.environ["PATH"] = os.pathsep.join([*folders, os.environ.get("PATH", "")])
    _npm_builder(target_name, version, **kwargs)
