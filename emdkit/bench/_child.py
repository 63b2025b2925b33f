"""Fresh Python processes for the suites that measure one (memory peaks, cold starts).

A child must import the emdkit this process runs, wherever it was started: a plain
``python -c`` puts the current folder first on its path, so started beside a clone
named ``emdkit/`` it imported that folder as a namespace package and died on
``emdkit.solve``. Children run in a neutral folder with this emdkit's parent first
on their path, and a child that fails raises an error that shows its stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import List, Optional


class ChildError(RuntimeError):
    """A child process failed; the message ends with what it wrote on stderr."""

    def __init__(self, args: List[str], returncode: int, stderr: str):
        self.returncode, self.stderr = returncode, stderr or ""
        tail = "\n".join(self.stderr.strip().splitlines()[-15:]) or "(nothing on stderr)"
        what = " ".join(a if len(a) < 60 else a[:57] + "..." for a in args[1:3])
        super().__init__(f"a benchmark child process ({what}) exited with status "
                         f"{returncode}; its stderr ends:\n{tail}")


def run_child(args: List[str], *, env: Optional[dict] = None,
              timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """``subprocess.run([sys.executable] + args)``, output captured as text, in a
    temporary folder with this process's emdkit importable first; :class:`ChildError`
    if it fails (``subprocess.TimeoutExpired`` past ``timeout``)."""
    import emdkit

    env = dict(os.environ if env is None else env)
    root = os.path.dirname(os.path.dirname(os.path.abspath(emdkit.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    cmd = [sys.executable] + list(args)
    with tempfile.TemporaryDirectory(prefix="emdkit-child-") as cwd:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd,
                             timeout=timeout)
    if out.returncode != 0:
        raise ChildError(cmd, out.returncode, out.stderr)
    return out
