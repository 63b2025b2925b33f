"""emdkit: the Earth Mover's (Wasserstein) distance by several methods behind one call.

>>> import emdkit
>>> emdkit.distance([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], method="auto")
1.0

Importing emdkit imports numpy only; numba, POT, SciPy and torch load when first used.
"""

from ._compare import Comparison, compare
from ._grid import grid
from .api import distance, methods, solve
from .memory import ProblemTooLargeError
from .many import cdist, pairwise
from .result import Result

__all__ = ["distance", "solve", "methods", "compare", "Comparison", "grid", "pairwise", "cdist",
           "Result",
           "ProblemTooLargeError", "WassersteinLoss", "datasets", "plot", "wgan"]

_SUBMODULES = ("datasets", "plot", "wgan")


def __getattr__(name):
    """``emdkit.datasets``, ``emdkit.plot`` and ``emdkit.wgan`` load on first use
    (``plot`` needs matplotlib, ``wgan`` torch)."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name == "WassersteinLoss":           # a torch module: torch loads with it
        from .loss import WassersteinLoss

        return WassersteinLoss
    raise AttributeError(f"module 'emdkit' has no attribute {name!r}")
__version__ = "0.1.0"
