"""The layout docs/architecture.md describes holds: sizes, and which package may import what.

A module that grows past the limit or an import that crosses a boundary fails here, with the
place to look, before a reviewer has to find it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "loadtests", "reference_api")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80

# package -> the top-level modules its code may import, besides the standard library and itself
ALLOWED_HARNESS = {
    "harness.core": ("harness.core", "harness.errors", "harness._files"),
    "harness.stack": ("harness.core", "harness.stack", "harness.errors", "harness._files"),
    "harness.run": ("harness.core", "harness.stack", "harness.run", "harness.errors",
                    "harness._files", "harness.report"),
    "harness.analysis": ("harness.core", "harness.analysis", "harness.errors", "harness._files"),
    "harness.report": ("harness.core", "harness.analysis", "harness.report", "harness.errors",
                       "harness._files", "harness.history"),
    "harness.gate": ("harness.core", "harness.analysis", "harness.gate", "harness.errors",
                     "harness._files"),
    "harness.history": ("harness.analysis", "harness.history", "harness.errors",
                        "harness._files"),
}  # fmt: skip


def _modules(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in _modules(*PACKAGES)}

    too_long = {str(p.relative_to(ROOT)): n for p, n in sizes.items() if n > MAX_MODULE_LINES}

    assert too_long == {}


def test_no_function_is_over_the_size_limit() -> None:
    too_long = {}
    for path in _modules(*PACKAGES):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - first + 1
                if length > MAX_FUNCTION_LINES:
                    too_long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = length

    assert too_long == {}


@pytest.mark.parametrize("package", sorted(ALLOWED_HARNESS))
def test_each_harness_package_imports_only_what_the_architecture_allows(package: str) -> None:
    allowed = ALLOWED_HARNESS[package]
    crossing = {
        f"{_dotted(path)} imports {name}"
        for path in _modules(package.replace(".", "/"))
        for name in _imports(path)
        if name.startswith("harness") and not name.startswith(allowed)
    }

    assert crossing == set()


@pytest.mark.parametrize(
    ("where", "allowed"),
    [
        # The core runs inside Locust (gevent-patched) and inside the analysis: numpy, pydantic.
        ("harness/core", {"numpy", "pydantic", "harness"}),
        # The journeys: Locust, gevent, the core, and their own ``_name`` helpers.
        ("loadtests", {"locust", "gevent", "numpy", "pydantic", "harness"}),
    ],
)
def test_what_runs_inside_locust_imports_no_pandas_and_no_stack(
    where: str, allowed: set[str]
) -> None:
    found = {
        f"{_dotted(path)} imports {name}"
        for path in _modules(where)
        for name in _imports(path)
        if not _safe_inside_locust(name, allowed)
    }

    assert found == set()


def _safe_inside_locust(name: str, allowed: set[str]) -> bool:
    top = name.split(".")[0]
    if top == "harness":
        return name.startswith(("harness.core", "harness.errors", "harness._files"))
    return top in sys.stdlib_module_names or top in allowed or top.startswith("_")


def test_the_harness_never_imports_locust_or_the_system_under_test() -> None:
    found = {
        f"{_dotted(path)} imports {name}"
        for path in _modules("harness")
        for name in _imports(path)
        if name.split(".")[0] in ("locust", "reference_api")
    }

    assert found == set()
