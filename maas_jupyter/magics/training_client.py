"""Jobs and runs over the management API, with the method names of JobRunner and RunStore.

They are a MaasClient's `jobs` and `runs` (maas_jupyter.client, where they live beside the other clients
of the management API); the names stay importable from here.
"""

from __future__ import annotations

from ..client import JOB_FINAL_STATES as FINAL_STATES
from ..client import JobsClient, RunsClient

__all__ = ["FINAL_STATES", "JobsClient", "RunsClient"]
