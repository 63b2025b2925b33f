"""The package's layers (docs: "How emdkit is built"): each module imports only from
its own layer or those below; no import circle; no private name (``_x``) imported
from another subpackage. Read from the source (every import, lazy ones inside
functions too), so a new module that breaks a rule fails here."""

import ast
import pathlib

import pytest

import emdkit

ROOT = pathlib.Path(emdkit.__file__).parent

#: Bottom to top; a module belongs to the first layer with a matching prefix.
LAYERS = (
    ("leaves", ("emdkit.checks", "emdkit.memory", "emdkit.threads", "emdkit.result",
                "emdkit.table", "emdkit.kernels")),
    ("geometry", ("emdkit.geometry",)),
    ("certificates and models", ("emdkit.bounds", "emdkit.wgan")),
    ("solvers", ("emdkit.solvers",)),
    ("entry points", ("emdkit.dispatch", "emdkit._live", "emdkit._auto", "emdkit.api",
                      "emdkit.many", "emdkit.loss", "emdkit._compare", "emdkit._grid",
                      "emdkit.datasets", "emdkit.plot", "emdkit")),
    ("command and suite", ("emdkit.cli", "emdkit.__main__", "emdkit.bench")),
)


def _modules():
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = ["emdkit", *f.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
            pkg = ".".join(parts)
        else:
            pkg = ".".join(parts[:-1])
        out[".".join(parts)] = (f, pkg)
    return out


MODULES = _modules()


def _imports():
    """``{module: {(imported module, name), ...}}`` for every emdkit import."""
    edges = {}
    for name, (f, pkg) in MODULES.items():
        found = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "emdkit":
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add((sub, None) if sub in MODULES else (target, alias.name))
            elif isinstance(node, ast.Import):
                found |= {(a.name, None) for a in node.names
                          if a.name.split(".")[0] == "emdkit"}
        edges[name] = found
    return edges


EDGES = _imports()


def _layer(module):
    best = None
    for k, (_, prefixes) in enumerate(LAYERS):
        for pre in prefixes:
            if module == pre or module.startswith(pre + "."):
                if best is None or len(pre) > best[1]:
                    best = (k, len(pre))
    return best[0]


def _subpackage(module):
    """The first-level subpackage holding ``module`` (``emdkit`` for the top level)."""
    f, pkg = MODULES[module]
    parts = (module if f.name == "__init__.py" else pkg).split(".")
    return ".".join(parts[:2])


def test_every_module_has_a_layer():
    assert all(_layer(m) is not None for m in MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_from_its_layer_or_below(module):
    mine = _layer(module)
    above = sorted(f"{dst} ({LAYERS[_layer(dst)][0]})" for dst, _ in EDGES[module]
                   if dst in MODULES and _layer(dst) > mine)
    assert not above, f"{module} ({LAYERS[mine][0]}) imports from above: {above}"


def test_no_private_name_is_imported_from_another_subpackage():
    bad = []
    for src, found in EDGES.items():
        for dst, name in found:
            if dst not in MODULES or _subpackage(src) == _subpackage(dst):
                continue
            private = [p for p in dst.split(".")[1:] if p.startswith("_")]
            if private or (name or "").startswith("_"):
                bad.append(f"{src} imports {dst}{'.' + name if name else ''}")
    assert not bad, bad


def test_no_import_circle():
    graph = {m: {d for d, _ in EDGES[m] if d in MODULES and d != m} for m in MODULES}
    # Tarjan's strongly connected components: a circle is one with two or more
    index, low, stack, on, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, circles


def test_the_checker_sees_a_circle_and_a_private_import():
    # the rules above can fail: the parser sees lazy imports inside functions
    assert ("emdkit.dispatch", None) in EDGES["emdkit.api"]
    assert ("emdkit.geometry.histograms", "cost_input") in EDGES["emdkit.api"]
    assert _subpackage("emdkit.solvers.entropic.driver") == "emdkit.solvers"
    assert _layer("emdkit.geometry.units") < _layer("emdkit.solvers.exact")


def test_the_docs_page_lists_these_layers():
    # docs/architecture.md ("How emdkit is built") describes the layers checked here
    page = (ROOT.parent / "docs" / "architecture.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| ")][1:]
    named = [row.split("|")[1].strip() for row in rows]
    assert named[:len(LAYERS)] == [name for name, _ in LAYERS]
    for (name, prefixes), row in zip(LAYERS, rows):
        for pre in prefixes:
            if pre != "emdkit":         # the package's __init__: its entry points
                assert f"`{pre.split('.', 1)[1]}" in row, (name, pre)
