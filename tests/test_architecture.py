"""The shape of the code: small modules, imports that run one way."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("annotator", "api", "frontend")
MAX_LINES = 600


def application_files(*suffixes: str) -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*")):
            if path.suffix in suffixes and "migrations" not in path.parts:
                files.append(path)
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Application modules ``path`` imports, at the top or inside functions.

    ``from a.b import c`` is an import of ``a.b.c`` when that is a module, else
    of ``a.b``; parents of the named module are not counted (importing
    ``a.b.c`` runs ``a/b/__init__`` first, which is how packages work).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return found & modules


def test_no_application_module_is_over_600_lines():
    long = {
        str(path.relative_to(REPO)): n
        for path in application_files(".py", ".js")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_application_imports_have_no_cycle():
    files = application_files(".py")
    modules = {module_name(path) for path in files}
    graph = {module_name(path): imports_of(path, modules) for path in files}
    cycles = []

    def visit(module: str, stack: list[str], done: set[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in stack:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in done:
                visit(target, [*stack, target], done)
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module], done)
    assert not cycles, cycles[:5]


def test_the_domain_never_imports_the_web_layers():
    for path in application_files(".py"):
        if module_name(path).startswith("annotator"):
            imported = imports_of(
                path, {m for m in map(module_name, application_files(".py"))}
            )
            web = sorted(m for m in imported if m.split(".")[0] in {"api", "frontend"})
            assert not web, (path, web)
