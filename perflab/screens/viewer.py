"""Open a file or folder in the system viewer (xdg-open or open), detached: it is a viewer, not a measured
child, so the supervisor is not involved. Without a display the path is shown instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path


def open_path(path: str | Path, notify: Callable[..., object]) -> bool:
    """True when a viewer was started; otherwise ``notify`` tells the person why and where the path is."""
    viewer = shutil.which("xdg-open") or shutil.which("open")
    if viewer is None or not os.environ.get("DISPLAY") and viewer.endswith("xdg-open"):
        notify(f"no system viewer here; the path is {path}", timeout=8)
        return False
    if not Path(path).exists():
        notify(f"{path} does not exist", severity="error")
        return False
    subprocess.Popen([viewer, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    notify(f"opened {path}")
    return True
