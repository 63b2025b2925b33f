"""The ``emdkit`` command.

``emdkit distance A B`` prints W_p between the samples in two files (.npy, .csv, .txt);
``emdkit methods`` lists the methods; ``emdkit example`` runs a built-in example;
``emdkit bench [--quick] [--out DIR]`` runs the benchmark suite (from a source checkout).
Malformed input is a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from typing import List, Optional

import numpy as np

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


class _InputError(Exception):
    pass


def _header_lines(path: str, delimiter) -> int:
    """1 if the first line is a header (column names: no field is a number), else 0;
    a line that mixes numbers and words is data, and a malformed one at that."""
    with open(path) as fh:
        first = fh.readline()
    fields = [f.strip() for f in first.split(delimiter) if f.strip()]

    def number(text):
        try:
            float(text)
            return True
        except ValueError:
            return False
    return int(bool(fields) and not any(number(f) for f in fields))


def load_samples(path: str) -> np.ndarray:
    """Samples from a .npy file, or a .csv (comma) or .txt (whitespace) table of
    numbers, one sample per row; a first line that is not numbers (column names) is
    skipped."""
    lower = path.lower()
    try:
        if lower.endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
        elif lower.endswith(".csv"):
            arr = np.loadtxt(path, delimiter=",", dtype=np.float64,
                             skiprows=_header_lines(path, ","), ndmin=1)
        elif lower.endswith(".txt"):
            arr = np.loadtxt(path, dtype=np.float64, skiprows=_header_lines(path, None),
                             ndmin=1)
        else:
            raise _InputError(f"cannot read {path!r}: unknown file type (expected .npy, "
                              f".csv or .txt)")
    except _InputError:
        raise
    except (OSError, ValueError, TypeError, EOFError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _InputError(f"cannot read {path!r}: {msg}") from None
    return arr


def _parse_option(text: str):
    if "=" not in text:
        raise _InputError(f"--option expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip().replace("-", "_"), value


def _methods_epilog() -> str:
    """The methods and their options, from the registry (so --help cannot drift)."""
    import textwrap

    from .api import methods
    from .solvers import REGISTRY

    lines = ["methods (--method NAME; options with -o NAME=VALUE):"]
    for name, summary in methods().items():
        lines += textwrap.wrap(f"{name}: {summary}", 88, initial_indent="  ",
                               subsequent_indent="      ")
        opts = REGISTRY[name].options if name in REGISTRY else ("rtol", "memory_limit")
        lines.append("      options: " + (", ".join(opts) or "none"))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emdkit", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The Earth Mover's (Wasserstein) distance W_p between two samples, "
                    "by exact LP, closed forms, Sinkhorn, sliced projections or a WGAN "
                    "critic.", epilog=_methods_epilog())
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("distance", help="W_p between the samples in two files")
    d.add_argument("a", help="first sample: .npy, .csv or .txt, one sample per row")
    d.add_argument("b", help="second sample, same format")
    d.add_argument("--method", default="exact", help="method name (emdkit methods)")
    d.add_argument("--p", type=float, default=1.0, help="order p >= 1 (default 1)")
    d.add_argument("--metric", default="euclidean",
                   help="euclidean (default), cityblock or chebyshev")
    d.add_argument("--a-weights", help="file of weights for a, one per sample")
    d.add_argument("--b-weights", help="file of weights for b, one per sample")
    d.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="a method option, e.g. -o max_iter=100000 (repeatable)")
    d.add_argument("--verbose", "-v", action="store_true",
                   help="print the full result, not only the value")
    sub.add_parser("methods", help="list the methods")
    sub.add_parser("example", help="run a built-in example and compare with the truth")
    sub.add_parser("bench", add_help=False,
                   help="the benchmark suite: emdkit bench [--quick] [--out DIR]")
    return parser


def _bench(argv: List[str]) -> int:
    """The benchmark suite, which ships inside the package (``emdkit.bench``); the
    peers it measures come with ``pip install emdkit[bench]``, a missing one is
    reported as missing."""
    from .bench.run import main as bench_main

    return bench_main(argv)


def _distance(args) -> int:
    import emdkit

    a = load_samples(args.a)
    b = load_samples(args.b)
    wa = load_samples(args.a_weights) if args.a_weights else None
    wb = load_samples(args.b_weights) if args.b_weights else None
    options = dict(_parse_option(o) for o in args.option)
    result = emdkit.solve(a, b, method=args.method, p=args.p, metric=args.metric,
                          a_weights=wa, b_weights=wb, **options)
    print(repr(result) if args.verbose else f"{result.value:.12g}")
    return 0


def _methods() -> int:
    import emdkit

    items = emdkit.methods()
    width = max(map(len, items))
    for name, line in items.items():
        print(f"{name:<{width}}  {line}")
    return 0


def _example() -> int:
    """Known distances, recovered by each method."""
    import emdkit

    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(1000, 2))
    shift = np.array([3.0, 4.0])
    line = rng.normal(size=100_000)
    cases = [
        ("2-D cloud vs. itself shifted by (3, 4)", cloud, cloud + shift, "exact", 1, 5.0),
        ("same, p = 2", cloud, cloud + shift, "exact", 2, 5.0),
        ("2-D cloud vs. itself scaled by 2, p = 2", cloud, 2 * cloud, "exact", 2,
         float(np.sqrt((cloud ** 2).sum(1).mean()))),
        ("1-D, 100k points vs. shifted by 1.5", line, line + 1.5, "1d", 1, 1.5),
        ("1-D, same, auto", line, line + 1.5, "auto", 3, 1.5),
    ]
    print(f"{'case':<42} {'method':<7} {'p':>2} {'value':>12} {'truth':>12} {'time':>9}")
    for label, a, b, method, p, truth in cases:
        t0 = time.perf_counter()
        r = emdkit.solve(a, b, method=method, p=p)
        dt = time.perf_counter() - t0
        print(f"{label:<42} {r.method:<7} {p:>2} {r.value:>12.9f} {truth:>12.9f} "
              f"{dt:>8.3f}s")
    print("\nTimes include one-off numba compilation on the first 1-D call.")
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"emdkit: warning: {message}", file=sys.stderr)


def _lean_peer_imports() -> None:
    """The command passes only numpy arrays to POT, so POT need not load its torch,
    JAX, CuPy and TensorFlow backends (torch alone adds seconds to start-up). Only
    this process is affected; library use leaves POT untouched."""
    import os

    for backend in ("PYTORCH", "JAX", "CUPY", "TENSORFLOW"):
        os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    if "ot" not in sys.modules:
        _lean_peer_imports()
    import warnings

    warnings.showwarning = _one_line_warning
    try:
        if args.command == "distance":
            return _distance(args)
        if args.command == "methods":
            return _methods()
        return _example()
    except _InputError as exc:
        print(f"emdkit: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError as exc:
        print(f"emdkit: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (ValueError, TypeError) as exc:
        print(f"emdkit: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
