"""Content-addressed artifact store: artifacts/sha256/ab/abcd…, written atomically."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import time
from pathlib import Path

from ..errors import InsufficientStorage, NotFound, Unavailable

TMP_PREFIX = ".tmp-"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _no_space(exc: OSError, root: Path) -> InsufficientStorage | None:
    """The typed error for a full disk (or quota), None for any other OSError."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(
            f"no space left on the disk that holds the artifact store ({root}): "
            f"nothing was stored; free some space and register again"
        )
    return None


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
        try:
            fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=final.parent)
        except OSError as exc:
            raise (_no_space(exc, self.root) or exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError) and (full := _no_space(exc, self.root)) is not None:
                raise full from None
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
        return [name for name, _size in self.sweep_sizes(referenced, older_than_s)]

    def sweep_sizes(self, referenced: set[str], older_than_s: float) -> list[tuple[str, int]]:
        """sweep(), answering (file name, bytes) for each file removed."""
        removed = []
        cutoff = time.time() - older_than_s
        for path in (self.root / "sha256").glob("*/*"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # another process swept it first
                continue
            if stat.st_mtime > cutoff:
                continue  # a registration in another process may be about to commit its row
            if path.name.startswith(TMP_PREFIX) or path.name not in referenced:
                path.unlink(missing_ok=True)
                removed.append((path.name, stat.st_size))
        return removed
