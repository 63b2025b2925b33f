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


def publish_table(folder: str, name: str, title: str, intro: str, rows, text: str,
                  tail: str = "") -> None:
    """A standalone suite's published result: ``folder/name.json`` (the rows) and
    ``folder/name.md`` (``# title``, ``intro``, the table ``text``, then ``tail``)."""
    import json
    import os

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    with open(os.path.join(folder, f"{name}.md"), "w") as fh:
        fh.write(f"# {title}\n\n{intro}\n\n{text}\n{tail}")
