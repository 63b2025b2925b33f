"""The emdkit command: files in, value out; malformed input is one line and exit 2."""

import subprocess
import sys

import numpy as np
import pytest

import emdkit
from emdkit.cli import main


@pytest.fixture
def files(tmp_path, rng):
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + 1
    np.save(tmp_path / "a.npy", a)
    np.savetxt(tmp_path / "b.csv", b, delimiter=",")
    np.savetxt(tmp_path / "b.txt", b)
    return tmp_path, a, b


def test_distance_npy_csv_txt(files, capsys):
    path, a, b = files
    expected = emdkit.distance(a, b, p=2)
    for other in ("b.csv", "b.txt"):
        assert main(["distance", str(path / "a.npy"), str(path / other), "--p", "2"]) == 0
        assert float(capsys.readouterr().out) == pytest.approx(expected, rel=1e-11)


def test_csv_and_txt_with_a_header_line(files, capsys):
    path, a, b = files
    (path / "h.csv").write_text("x,y\n" + "\n".join(f"{float(u)!r},{float(v)!r}" for u, v in b))
    (path / "h.txt").write_text("x y\n" + "\n".join(f"{float(u)!r} {float(v)!r}" for u, v in b))
    expected = emdkit.distance(a, b)
    for other in ("h.csv", "h.txt"):
        assert main(["distance", str(path / "a.npy"), str(path / other)]) == 0
        assert float(capsys.readouterr().out) == pytest.approx(expected, rel=1e-11)


def test_method_and_metric_options(files, capsys):
    path, a, b = files
    np.save(path / "a1.npy", a[:, 0])
    np.savetxt(path / "b1.txt", b[:, 0])
    assert main(["distance", str(path / "a1.npy"), str(path / "b1.txt"), "--method", "1d",
                 "--p", "3"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(
        emdkit.distance(a[:, 0], b[:, 0], method="1d", p=3), rel=1e-11)
    assert main(["distance", str(path / "a.npy"), str(path / "b.csv"), "--metric",
                 "cityblock", "-o", "max_iter=100000", "-v"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Result(value=") and "metric='cityblock'" in out


def test_weights_files(files, capsys):
    path, a, b = files
    w = np.arange(1, 41, dtype=float)
    np.savetxt(path / "w.txt", w)
    assert main(["distance", str(path / "a.npy"), str(path / "b.csv"), "--a-weights",
                 str(path / "w.txt")]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(
        emdkit.distance(a, b, a_weights=w), rel=1e-11)


def test_methods_command(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in emdkit.methods())


@pytest.mark.parametrize("content,name,match", [
    (None, "missing.npy", "cannot read .*missing.npy"),
    ("1,2,x\n", "bad.csv", "cannot read .*bad.csv': could not convert"),
    ("1,2\n3\n", "ragged.csv", "cannot read .*ragged.csv"),
    ("not numpy", "junk.npy", "cannot read .*junk.npy"),
    ("1 2\n", "data.json", "unknown file type"),
    ("nan 1\n2 3\n", "nan.txt", "a contains NaN or inf"),
])
def test_malformed_files_exit_2(tmp_path, capsys, content, name, match):
    bad = tmp_path / name
    if content is not None:
        bad.write_text(content)
    good = tmp_path / "good.txt"
    np.savetxt(good, np.ones((3, 2)))
    assert main(["distance", str(bad), str(good)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("emdkit: error: ")
    import re
    assert re.search(match, err)


def test_bad_method_and_option_exit_2(files, capsys):
    path, _, _ = files
    args = ["distance", str(path / "a.npy"), str(path / "b.csv")]
    assert main(args + ["--method", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(args + ["-o", "epsilon=1"]) == 2
    assert "unexpected option(s) epsilon" in capsys.readouterr().err
    assert main(args + ["--p", "0.5"]) == 2
    assert "p must be a finite real number >= 1" in capsys.readouterr().err


def test_non_convergence_is_a_one_line_warning(files, capsys):
    path, _, _ = files
    assert main(["distance", str(path / "a.npy"), str(path / "b.csv"), "-o",
                 "max_iter=3"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("emdkit: warning: emdkit method 'exact' did not converge")


def test_entry_point_runs(files):
    path, _, _ = files
    out = subprocess.run([sys.executable, "-m", "emdkit", "distance", str(path / "a.npy"),
                          str(path / "missing.txt")], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "emdkit", "example"], capture_output=True,
                         text=True, check=True)
    rows = [line.split() for line in out.stdout.splitlines()[1:6]]
    for row in rows:   # value and truth columns agree to the printed 9 digits
        assert abs(float(row[-3]) - float(row[-2])) < 1e-8, row


def test_help_names_every_method_and_its_options():
    from emdkit.solvers import REGISTRY

    out = subprocess.run([sys.executable, "-m", "emdkit", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "The ``emdkit`` command" not in out
    flat = " ".join(out.split())
    for name, spec in REGISTRY.items():
        assert f"{name}:" in out
        assert "options: " + (", ".join(spec.options) or "none") in flat, name
    assert "auto:" in out and "options: rtol, memory_limit" in flat
