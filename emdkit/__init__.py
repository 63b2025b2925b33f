"""emdkit: the Earth Mover's (Wasserstein) distance by several methods behind one call.

>>> import emdkit
>>> emdkit.distance([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], method="auto")
1.0

Importing emdkit imports numpy only; numba, POT, SciPy and torch load when first used.
"""

from .api import distance, methods, solve
from .costs import ProblemTooLargeError
from .result import Result

__all__ = ["distance", "solve", "methods", "Result", "ProblemTooLargeError"]
__version__ = "0.1.0"
