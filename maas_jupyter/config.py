"""Where state lives, from the environment: MAAS_HOME and MAAS_DATABASE_URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Typed settings of one Platform."""

    home: Path
    database_url: str
    parity_tolerance: float = 1e-4
    max_upload_bytes: int = 512 * 1024 * 1024
    backend: str = "local"  # where endpoints run: "local" (this machine) or "ray" (maas_jupyter.backends)
    ray_address: str | None = None  # MAAS_RAY_ADDRESS: the Ray cluster to join; None starts a local one

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @classmethod
    def from_env(cls, home: str | os.PathLike | None = None, database_url: str | None = None) -> "Settings":
        """Read MAAS_HOME (default ~/.maas), MAAS_DATABASE_URL (default SQLite in MAAS_HOME), MAAS_BACKEND
        (local | ray) and MAAS_RAY_ADDRESS."""
        home_path = Path(home or os.environ.get("MAAS_HOME") or Path.home() / ".maas").expanduser().resolve()
        url = database_url or os.environ.get("MAAS_DATABASE_URL") or f"sqlite:///{home_path / 'registry.db'}"
        tolerance = float(os.environ.get("MAAS_PARITY_TOLERANCE", "1e-4"))
        max_upload = int(os.environ.get("MAAS_MAX_UPLOAD_BYTES", str(512 * 1024 * 1024)))
        backend = (os.environ.get("MAAS_BACKEND") or "local").strip().lower()
        return cls(home=home_path, database_url=url, parity_tolerance=tolerance, max_upload_bytes=max_upload,
                   backend=backend, ray_address=os.environ.get("MAAS_RAY_ADDRESS") or None)


# Set by the Jupyter server extension in its own environment, so kernels it starts inherit them:
# that is how `%maas` in a notebook finds the server's REST API and token with nothing to configure.
ENV_JUPYTER_URL = "MAAS_JUPYTER_URL"
ENV_JUPYTER_TOKEN = "MAAS_JUPYTER_TOKEN"
