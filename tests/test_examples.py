"""The worked examples run (tiny settings) and write what they promise."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the WGAN example trains torch networks")
pytest.importorskip("matplotlib", reason="the example saves a plot")

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    return importlib.import_module(f"emdkit.bench.{name}")


def test_wgan_ring_tiny_run(tmp_path):
    wgan_ring = load("wgan_ring")
    assert wgan_ring.main(["--steps", "20", "--every", "10", "--out", str(tmp_path)]) == 0
    records = json.loads((tmp_path / "curves.json").read_text())
    assert [r["step"] for r in records] == [0, 10, 20]
    for r in records:
        assert all(np.isfinite(r[k]) for k in ("critic_estimate", "exact", "sinkhorn",
                                                "sliced"))
        assert r["sliced"] <= r["exact"] * (1 + 1e-9)   # SW_1 <= W_1
    assert (tmp_path / "wgan_ring.png").stat().st_size > 10_000
