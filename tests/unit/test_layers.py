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


def imports(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in `source`, top level or in a function."""
    tree = ast.parse(source, filename)
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


def wrong_imports(name: str, source: str, filename: str) -> list[str]:
    """The imports of module `name` that reach a layer it may not, as `file:line` lines."""
    own = layer_of(name)
    assert own is not None
    wrong = []
    for line, target in imports(source, filename):
        theirs = layer_of(target)
        if theirs is None or theirs == own:
            continue
        if theirs not in ALLOWED[own]:
            wrong.append(f"{filename}:{line} ({own}) imports {target} ({theirs})")
    return wrong


@pytest.mark.parametrize("path,name", product_modules(), ids=lambda v: str(v))
def test_imports_keep_to_the_layers(path: Path, name: str) -> None:
    wrong = wrong_imports(name, path.read_text("utf-8"), str(path.relative_to(ROOT)))
    assert not wrong, "\n".join(wrong)


def test_an_import_downstream_or_into_the_shell_is_found() -> None:
    source = (
        "import numpy as np\n"
        "from hazardwatch.vocabulary.model import Batch\n"
        "def later():\n"
        "    from hazardwatch.shell import service\n"
        "    import alerting.journal\n"
    )
    assert wrong_imports("detectors.step", source, "step.py") == [
        "step.py:4 (detectors) imports hazardwatch.shell (shell)",
        "step.py:5 (detectors) imports alerting.journal (alerting)",
    ]
    assert wrong_imports("alerting.journal", source, "journal.py") == [
        "journal.py:4 (alerting) imports hazardwatch.shell (shell)",
    ]
