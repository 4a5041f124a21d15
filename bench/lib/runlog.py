"""Shared by the Python benchmark scripts (bench/trainer-*.py)."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path


def sh(cmd: list[str], log: Path) -> float:
    """Run a command, append its output to log, return wall seconds; raise on failure."""
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - t0
