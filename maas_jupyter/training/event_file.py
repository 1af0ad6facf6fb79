"""Reading a job's events.jsonl as it grows: each read parses only the bytes added since the last one."""

from __future__ import annotations

import json
import threading
from pathlib import Path


class EventFileTail:
    """The events of one JSON-lines file, refreshed incrementally (a long job writes tens of thousands)."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._events: list[dict] = []
        self._lock = threading.Lock()  # the job's monitor thread and API requests read the same tail

    def refresh(self) -> list[dict]:
        """Every complete event so far (a line still being written waits for the next refresh)."""
        with self._lock:
            try:
                with open(self.path, "rb") as handle:
                    handle.seek(self._offset)
                    data = handle.read()
            except FileNotFoundError:
                return self._events
            end = data.rfind(b"\n")
            if end >= 0:
                for line in data[:end].splitlines():
                    if line.strip():
                        try:
                            self._events.append(json.loads(line))
                        except json.JSONDecodeError:  # a torn line from a killed worker: skip it
                            pass
                self._offset += end + 1
            return self._events
