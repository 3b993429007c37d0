"""Helpers shared by the tests: the project root and the command line run as a user runs it.

Test modules import these from here, never from ``conftest`` (two conftest modules of one name
would shadow each other on ``sys.path``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed command line in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, "-m", "spill2lerobot", *args], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"spill2lerobot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result
