"""The ``krait`` console script of the wheel: runs the command-line tool shipped in the package.

The tool is the native program built from cli/ (``krait generate``, ``krait chat``, ``krait classify``,
``krait info``, ``krait tokenize``), installed as ``krait/bin/krait`` next to libkrait. This entry point
replaces the Python process with it, so exit status, signals and the terminal behave as when the
program is run directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional


def executable() -> Path:
    """Path of the bundled ``krait`` program (krait/bin/krait inside the installed package)."""
    return Path(os.path.abspath(__file__)).parent / "bin" / "krait"


def main(argv: Optional[List[str]] = None) -> None:
    """Runs the bundled ``krait`` program with ``argv`` (default: this process's arguments)."""
    args = sys.argv[1:] if argv is None else list(argv)
    exe = executable()
    if not os.access(exe, os.X_OK):
        sys.exit(f"krait: the command-line tool {exe} is missing or not executable (a broken install?)")
    if os.name == "posix":
        os.execv(exe, ["krait", *args])  # does not return
    sys.exit(subprocess.call([os.fspath(exe), *args]))


if __name__ == "__main__":
    main()
