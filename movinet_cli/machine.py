"""What this machine is, and what was measured on it: ``machine()`` names it, and a
``MachineBook`` is a JSON file of entries kept per machine in the cache (live's model
measurements, the engine's conversion pace). A leaf: it imports only the ground modules.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from movinet_cli import files
from movinet_cli.errors import MovinetError


def machine() -> str:
    """This machine as measurements are remembered for it: the CPU's model name and the CPUs
    this process may use (a shared cache may serve several machines)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    name = platform.processor() or platform.machine() or "unknown CPU"
    try:
        for line in files.read_text("/proc/cpuinfo", "CPU description", 1 << 24).split("\n"):
            if line.startswith("model name") and ":" in line:
                name = line.split(":", 1)[1].strip()
                break
    except MovinetError:
        pass  # not Linux, or no /proc: the platform's name
    return f"{name}, {cpus} CPUs"


def positive_number(value, below: float) -> bool:
    """Whether ``value``, read back from a file, is a real number (not a bool) in (0, ``below``)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 < value < below


def _valid(document, version: int, valid_entry: Callable[[object], bool]) -> bool:
    return (
        isinstance(document, dict)
        and document.get("version") == version
        and isinstance(document.get("machines"), dict)
        and all(isinstance(entries, dict) and all(valid_entry(e) for e in entries.values()) for entries in document["machines"].values())
    )


class MachineBook:
    """A JSON file of entries kept per machine (``machine()``): ``entry`` reads one of this
    machine's, ``record`` sets one and writes the file at once (atomically, its folder made).
    The file is read bounded (``limit`` bytes) and validated (``version``, ``valid_entry``): one
    that cannot be read or is not valid is ignored (``damaged`` says so), never trusted, and
    replaced by the next ``record``. A FIFO or device in its place is never written."""

    def __init__(self, path: Path, what: str, limit: int, version: int, valid_entry: Callable[[object], bool]):
        self.path, self.machine, self.damaged = path, machine(), False
        self._document: dict[str, Any] = {"version": version, "machines": {}}
        if not self.path.exists():
            return
        try:
            document = json.loads(files.read_text(self.path, what, limit))
        except (MovinetError, ValueError, RecursionError):
            document = None
        if _valid(document, version, valid_entry):
            self._document = document
        else:
            self.damaged = True

    def entry(self, key: str) -> dict | None:
        """This machine's entry ``key``, or None."""
        return self._document["machines"].get(self.machine, {}).get(key)

    def record(self, key: str, entry: dict) -> None:
        """Sets this machine's entry ``key`` and writes the file; one that cannot be written
        costs only the memory of it (no error)."""
        self._document["machines"].setdefault(self.machine, {})[key] = entry
        if self.path.exists() and not self.path.is_file():
            return  # a FIFO or device in its place is not ours to write into
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with files.atomic_writer(self.path) as handle:
                json.dump(self._document, handle, indent=1, sort_keys=True)
            self.damaged = False
        except (OSError, MovinetError):
            pass  # recorded again next time
