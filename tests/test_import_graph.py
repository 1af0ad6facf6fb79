"""The package's import graph, read from the source (imports inside functions included): no module takes
part in an import circle, and the core imports neither a face nor Jupyter, IPython, widget, HTTP-server
or gRPC code. The faces (magics, REST handlers, servers, widgets, the command line) sit on the core."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "maas_jupyter"
GENERATED = ("maas_jupyter.serving.proto",)

# The faces, by module prefix: each may import the core and the libraries of its transport.
FACES = (
    "maas_jupyter.api",
    "maas_jupyter.magics",
    "maas_jupyter.server",
    "maas_jupyter.widgets",
    "maas_jupyter.cli",
    "maas_jupyter.serving.app",
    "maas_jupyter.serving.grpc_server",
    "maas_jupyter.serving.http_limits",
    "maas_jupyter.serving.rest",
    "maas_jupyter.serving.serve_face",
)
ROOT = "maas_jupyter"  # its __init__ holds the entry points (load_ipython_extension, the server extension)
FACE_LIBRARIES = (
    "tornado",
    "IPython",
    "ipykernel",
    "ipywidgets",
    "bqplot",
    "jupyter_server",
    "jupyterlab",
    "grpc",
    "nbformat",
    "nbclient",
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name.startswith(GENERATED) and "migrations" not in parts:
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports anywhere in its source, as absolute dotted names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from . import x` names a module x, `from .m import f` the module m
            targets.update(
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module for alias in node.names
            )
    return targets


def _own(target: str) -> str | None:
    """The package module an import resolves to (its longest known prefix), None for other packages."""
    parts = target.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts) if parts and parts[0] == ROOT else None


GRAPH = {
    name: {own for t in _imports(name, path) if (own := _own(t)) and own != name} for name, path in MODULES.items()
}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_the_reader_sees_the_imports_it_should():
    """The graph is read right: known edges, a function-level import among them, are in it."""
    assert "maas_jupyter.http_session" in GRAPH["maas_jupyter.client"]
    assert "maas_jupyter.magics.notebook_access" in GRAPH["maas_jupyter"]  # imported inside a function
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_takes_part_in_an_import_circle():
    circles = _circles(GRAPH)
    described = ["; ".join(f"{m} -> {sorted(GRAPH[m] & set(c))}" for m in c) for c in circles]
    assert circles == [], "\n".join(described)


def _is_face(name: str) -> bool:
    return name == ROOT or any(name == face or name.startswith(face + ".") for face in FACES)


def test_the_core_imports_no_face_and_no_transport_library():
    offences = []
    for name, path in sorted(MODULES.items()):
        if _is_face(name):
            continue
        for target in sorted(_imports(name, path)):
            own = _own(target)
            if own is not None and own != ROOT and _is_face(own):
                offences.append(f"{name} imports the face {own}")
            elif own is None and target.split(".")[0] in FACE_LIBRARIES:
                offences.append(f"{name} imports {target}")
    assert offences == [], "\n".join(offences)
