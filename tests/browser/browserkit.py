"""Helpers of the browser tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def screenshot(page: Any, name: str) -> None:
    """Write ``<MOBSIM_SCREENSHOTS>/<name>.png`` when that variable is set."""
    folder = os.environ.get("MOBSIM_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)
