"""Content-addressed artifact store: artifacts/sha256/ab/abcd…, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from ..errors import NotFound, Unavailable

_TMP_PREFIX = ".tmp-"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """Stores bytes under their sha256; a file that exists is always whole."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: str) -> Path:
        return self.root / "sha256" / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store `data` and return its sha256; storing the same bytes twice is a no-op."""
        digest = sha256_of(data)
        final = self.path_of(digest)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        # Temporary name in the same folder, fsync, then rename: a crash leaves either the whole
        # file under its final name or a temporary file that sweep() removes later.
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest

    def get(self, digest: str) -> bytes:
        """Read an artifact and check that its bytes still hash to its name."""
        path = self.path_of(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"artifact {digest} is missing from the store at {path}") from None
        actual = sha256_of(data)
        if actual != digest:
            raise Unavailable(f"artifact {digest} is corrupt: its content hashes to {actual}")
        return data

    def discard(self, digest: str) -> None:
        """Remove an artifact (used only when the registration that wrote it failed)."""
        self.path_of(digest).unlink(missing_ok=True)

    def sweep(self, referenced: set[str], older_than_s: float = 3600.0) -> list[str]:
        """Remove temporary files and unreferenced artifacts older than `older_than_s` seconds."""
        removed = []
        cutoff = time.time() - older_than_s
        for path in (self.root / "sha256").glob("*/*"):
            if path.stat().st_mtime > cutoff:
                continue  # a registration in another process may be about to commit its row
            if path.name.startswith(_TMP_PREFIX) or path.name not in referenced:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed
