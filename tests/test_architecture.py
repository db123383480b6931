"""The house's rules, checked on the code: imports point down a layer, never up and never
in a circle (type-only imports included: a type is a dependency too). The layers are
docs/architecture.md's picture."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "synctools"

#: lowest first. A module may import its own component and any lower layer; two
#: components of one layer know nothing of each other (the server never sees the client).
LAYERS: list[set[str]] = [
    {"errors", "seams", "display", "_version", "_threads"},  # leaves: import nothing of synctools
    {"protocol"},  # pure: bytes and rules
    {"server", "net", "store", "diff", "demodata"},  # I/O and data, each on the protocol alone
    {"engines"},
    {"frames"},
    {"plan"},
    {"results"},
    {"states"},
    {"stages"},
    {"machine"},
    {"device"},
    {"doctor"},
    {"scrub"},  # anonymises records for snapshots; judges URLs with doctor.urls
    {"snapshots"},
    {"widgets", "cli", "commands", "demo", "testing", "__main__", "(package)"},  # faces: may use anything
]
FACES = LAYERS[-1]
#: known, named exceptions still to mend (each says why it is here)
PENDING: dict[str, str] = {}
PENDING_CYCLES: dict[frozenset[str], str] = {}


def modules() -> dict[str, Path]:
    """Every module by name; a compiled one (``_native.c``) by its typing stub."""
    out = {}
    stubs = [p for p in PACKAGE.rglob("*.pyi") if not p.with_suffix(".py").exists()]
    for path in [*PACKAGE.rglob("*.py"), *stubs]:
        parts = path.with_suffix("").relative_to(ROOT).parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = modules()


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def layer(module: str) -> int:
    comp = component(module)
    return next(i for i, names in enumerate(LAYERS) if comp in names)


def imports(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text("utf-8"))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        for t in targets:
            if not t.startswith("synctools"):
                continue
            while t not in MODULES and "." in t:
                t = t.rsplit(".", 1)[0]
            if t != module:
                found.add(t)
    return found


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert {component(m) for m in MODULES} <= set().union(*LAYERS), "place each new component in LAYERS"


def test_imports_point_down():
    wrong = []
    for module, deps in GRAPH.items():
        for dep in deps:
            same = component(dep) == component(module)
            if same or layer(dep) < layer(module) or component(module) in FACES and component(dep) in FACES:
                continue
            edge = f"{module} -> {dep}"
            if edge not in PENDING:
                wrong.append(edge)
    assert sorted(wrong) == [], "an import goes up or sideways a layer; see docs/architecture.md"


def test_pending_exceptions_are_still_real():
    for edge in PENDING:
        module, dep = edge.split(" -> ")
        assert dep in GRAPH[module], f"{edge} is gone: remove it from PENDING"


def test_no_module_imports_in_a_circle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    found = {frozenset(c) for c in cycles if not all(component(m) in FACES for m in c)}
    assert sorted(map(sorted, found - set(PENDING_CYCLES))) == []
    assert sorted(map(sorted, set(PENDING_CYCLES) - found)) == [], "a pending cycle is gone: remove it"
