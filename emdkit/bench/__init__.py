"""emdkit's benchmark suite: emdkit beside its peers, in one process, as ratios.

It ships inside the package (``emdkit bench``, ``python -m emdkit.bench``) and
imports its peers (POT, SciPy, GeomLoss, torch, matplotlib) lazily, reporting a
missing one as missing; ``pip install emdkit[bench]`` brings them. The repository's
``benchmarks/results/`` keeps the published runs. The rest of emdkit never imports
this subpackage.
"""


def peer(name: str):
    """Import a peer library, or None if it is not installed (reported as missing)."""
    try:
        return __import__(name)
    except ImportError:
        return None
