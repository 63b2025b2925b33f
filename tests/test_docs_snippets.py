"""Every Python code block in README.md and docs/*.md runs, in order, per file; a line
whose comment promises a value (``expr   # 5.000...`` or ``# ... -> 1.4785...``) is
evaluated and checked against it, so the documentation cannot drift from the code."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PROMISE = re.compile(r"^(?P<expr>[^#=]+?)\s+#\s*(?:.*->\s*)?(?P<value>-?\d+\.\d+)\.\.\.")


def promises(block):
    for line in block.splitlines():
        m = PROMISE.match(line)
        if m:
            yield m.group("expr").strip(), m.group("value")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_code_blocks_run_and_keep_their_promises(path, monkeypatch, tmp_path):
    pytest.importorskip("torch", reason="the examples use the critic")
    matplotlib = pytest.importorskip("matplotlib", reason="the examples plot")
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(path.read_text())
    namespace: dict = {}
    checked = 0
    for k, block in enumerate(blocks):
        exec(compile(block, f"{path.name}, block {k}", "exec"), namespace)
        for expr, value in promises(block):
            got = eval(expr, namespace)
            assert f"{float(got):.12f}".startswith(value), (path.name, expr, got, value)
            checked += 1
    if path.name in ("README.md", "getting_started.md"):
        assert blocks and checked, "the promised values were not found"


def test_every_doc_file_is_covered():
    assert len(FILES) >= 5
