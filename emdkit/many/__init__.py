"""Distance matrices between many distributions: :func:`pairwise` and :func:`cdist`.

Each entry is what :func:`emdkit.distance` gives for that pair; the work that belongs
to one distribution is done once per call, not once per pair (``1d`` sorts each
distribution once, ``sliced`` projects and sorts it once per direction, and the pairs
are merges of sorted rows), and the pairs run in blocks on this process, on local
processes or on a Dask cluster (``client=``), optionally streamed to a file that a
stopped run resumes from (``out=``).
"""

from __future__ import annotations

from typing import Any, Optional

from ._matrix import matrix

__all__ = ["pairwise", "cdist"]

_COMMON = """
    method : str, default "exact"
        Any of :func:`emdkit.methods`, with the same meaning and options as in
        :func:`emdkit.distance`. ``"1d"`` sorts each distribution once and
        ``"sliced"`` projects and sorts each once per direction (one set of
        directions for the whole matrix: with an int ``seed`` the same as every
        pair's own call); the other methods solve pair by pair.
    p : float, default 1
        Order; the ground cost is ``metric(x, y) ** p``.
    metric : str or callable, default "euclidean"
        As in :func:`emdkit.distance`.
    scheduler : {"serial", "processes", "dask"}, optional
        Where the blocks of pairs run: this process; a pool of ``n_workers`` local
        processes (each receives the distributions once); a ``LocalCluster`` of
        ``n_workers`` Dask worker processes started for the call and closed after.
        Default: ``"serial"`` for ``1d`` and ``sliced`` (their kernels already use
        every core) and for short runs, local processes when the first pair's time
        predicts more than a few seconds of work.
    client : dask.distributed.Client, optional
        Run on this cluster instead: the distributions are scattered to every worker
        once, each task is a block of pairs, and a worker lost mid-run loses nothing
        (Dask runs its tasks again).
    n_workers : int, optional
        Local processes or Dask workers to start; default the number of cores (at
        most 8).
    block_size : int, optional
        Pairs per task; default a few tasks per worker, each about a second.
    out : str or path, optional
        A ``.npy`` file the matrix is written to as blocks finish (NaN where not
        computed yet). Calling again with the same file and the same arguments
        computes only what is missing: an interrupted run resumes. A file holding
        another matrix is refused. ``sliced`` with ``out`` needs an int ``seed``.
    progress : bool, optional
        A progress bar (tqdm) on runs longer than two seconds; default on in an
        interactive terminal.
    **options
        The method's options, as for :func:`emdkit.distance`.
"""


def pairwise(samples: Any, method: str = "exact", *, p: float = 1,
             metric: Any = "euclidean", weights: Any = None,
             scheduler: Optional[str] = None, client: Any = None,
             n_workers: Optional[int] = None, block_size: Optional[int] = None,
             out: Any = None, progress: Optional[bool] = None, **options: Any):
    """The (N, N) matrix of W_p between every two of N distributions.

    Symmetric with a zero diagonal: entry ``[i, j]`` for ``i < j`` is
    ``distance(samples[i], samples[j], method, ...)`` and ``[j, i]`` the same value.

    Parameters
    ----------
    samples : sequence of array_like, or array (N, n, d) or (N, n)
        The distributions, each of shape (n_k,) or (n_k, d), of any sizes n_k and one
        dimension d; an array is read along its first axis. Torch tensors give a
        torch matrix (computed pair by pair in this process, differentiable).
    weights : sequence, optional
        Per distribution, its sample weights or None (uniform).
    {common}
    Returns
    -------
    numpy.ndarray (N, N), or torch.Tensor for torch input

    Warns
    -----
    RuntimeWarning
        Once, listing the pairs whose solve warned (did not converge, ...).

    Examples
    --------
    >>> import numpy as np, emdkit
    >>> rng = np.random.default_rng(0)
    >>> clouds = [rng.normal(loc, 1.0, 200) for loc in (0.0, 1.0, 3.0)]
    >>> D = emdkit.pairwise(clouds, "1d")
    >>> D.shape, float(D[0, 0]), bool(np.allclose(D, D.T))
    ((3, 3), 0.0, True)
    >>> bool(np.isclose(D[0, 2], emdkit.distance(clouds[0], clouds[2], "1d")))
    True
    """
    return matrix(samples, weights, None, None, method, p, metric, scheduler, client,
                  n_workers, block_size, out, progress, options)


def cdist(samples_a: Any, samples_b: Any, method: str = "exact", *, p: float = 1,
          metric: Any = "euclidean", a_weights: Any = None, b_weights: Any = None,
          scheduler: Optional[str] = None, client: Any = None,
          n_workers: Optional[int] = None, block_size: Optional[int] = None,
          out: Any = None, progress: Optional[bool] = None, **options: Any):
    """The (N_a, N_b) matrix of W_p between every distribution of ``samples_a`` and
    every one of ``samples_b``: entry ``[i, j]`` is
    ``distance(samples_a[i], samples_b[j], method, ...)``.

    Parameters
    ----------
    samples_a, samples_b : sequence of array_like, or arrays (N, n, d) or (N, n)
        As ``samples`` in :func:`pairwise`; one dimension d for all.
    a_weights, b_weights : sequence, optional
        Per distribution of ``samples_a`` / ``samples_b``, its weights or None.
    {common}
    Returns
    -------
    numpy.ndarray (N_a, N_b), or torch.Tensor for torch input

    Examples
    --------
    >>> import emdkit
    >>> emdkit.cdist([[0.0, 1.0], [5.0]], [[1.0, 2.0], [0.0], [3.0, 4.0]], "1d")
    array([[1. , 0.5, 3. ],
           [3.5, 5. , 1.5]])
    """
    return matrix(samples_a, a_weights, samples_b, b_weights, method, p, metric,
                  scheduler, client, n_workers, block_size, out, progress, options)


pairwise.__doc__ = pairwise.__doc__.replace("{common}", _COMMON.strip("\n").lstrip())
cdist.__doc__ = cdist.__doc__.replace("{common}", _COMMON.strip("\n").lstrip())
