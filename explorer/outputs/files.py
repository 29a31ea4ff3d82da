"""Output files: a new, unique path for everything written; nothing is ever overwritten."""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path


def reserve_path(folder: Path | str, stem: str, suffix: str) -> Path:
    """Create folder/<date>/NNNNN-<stem><suffix> exclusively (O_EXCL) and return its path."""
    day = Path(folder) / _dt.date.today().isoformat()
    day.mkdir(parents=True, exist_ok=True)
    for counter in range(1, 1_000_000):
        path = day / f"{counter:05d}-{stem}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"no free file name left in {day}")
