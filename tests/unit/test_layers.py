"""The layers of design.md hold: no module imports one above it or downstream of it.

Every import of every module of the product (top level or inside a function) is read from
its source; a new import that breaks the layering fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("ingest", "detectors", "alerting", "dashboards")  # the data flow, upstream first

# layer -> the layers it may import (besides itself and third-party packages)
ALLOWED: dict[str, set[str]] = {
    "vocabulary": set(),
    "storage": {"vocabulary"},
    "ingest": {"vocabulary", "storage"},
    "detectors": {"vocabulary", "storage", "ingest"},
    "alerting": {"vocabulary", "storage", "ingest", "detectors"},
    "dashboards": {"vocabulary", "storage", "ingest", "detectors", "alerting"},
    "simulators": {"vocabulary"},
    "shell": {"vocabulary", "storage", *STAGES, "simulators"},
}


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to; None for third-party and the standard library."""
    parts = module.split(".")
    if parts[0] in (*STAGES, "simulators"):
        return parts[0]
    if parts[0] != "hazardwatch":
        return None
    if len(parts) == 1:
        return "vocabulary"  # the package re-exports the vocabulary only
    return {"vocabulary": "vocabulary", "storage": "storage", "shell": "shell"}.get(parts[1], "?")


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "hazardwatch":  # `from hazardwatch import shell` and the like
                found += [(node.lineno, f"hazardwatch.{a.name}") for a in node.names]
    return found


def product_modules() -> list[tuple[Path, str]]:
    out = []
    for top in ("hazardwatch", *STAGES, "simulators"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts).removesuffix(".__init__")
            if name == "hazardwatch.__main__":
                continue  # `python -m hazardwatch`: the shell's entry point by definition
            out.append((path, name))
    return out


def test_every_module_has_a_layer() -> None:
    strays = [name for _, name in product_modules() if layer_of(name) == "?"]
    assert not strays, f"modules outside vocabulary/, storage/ and shell/: {strays}"


@pytest.mark.parametrize("path,name", product_modules(), ids=lambda v: str(v))
def test_imports_keep_to_the_layers(path: Path, name: str) -> None:
    own = layer_of(name)
    assert own is not None
    wrong = []
    for line, target in imports(path):
        theirs = layer_of(target)
        if theirs is None or theirs == own:
            continue
        if theirs not in ALLOWED[own]:
            wrong.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {target} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_the_check_can_fail() -> None:
    assert layer_of("hazardwatch.shell.service") not in ALLOWED["dashboards"]
    assert layer_of("alerting.journal") not in ALLOWED["detectors"]
    assert "simulators" not in ALLOWED["detectors"]
