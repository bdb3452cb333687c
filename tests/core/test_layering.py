"""Arrows point one way: stages import the core, the core imports no stage (not even by name),
and stages import each other only at the composition root (``cli/``) and in the service's model
resolution, which builds the default/demo model with the export and training stages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAGES = ("training", "export", "serving")
ROOT = "cli"  # the composition root, installed as simplepose.cli
UPPER = (*STAGES, ROOT)
# file -> the other stages it may import, and why
CROSS_STAGE = {
    "serving/model_source.py": {"export"},  # the default pretrained model (weights registry)
    "serving/demo.py": {"export", "training"},  # the demo model is trained, then exported
}
# a module path naming a stage or the root: "simplepose.training", "training.cli", ...
NAMED = re.compile(rf"\b(?:simplepose\.({'|'.join(UPPER)})\b|({'|'.join(UPPER)})\.[a-z_]+\b)")


def _layer(module: str) -> str | None:
    """The stage/root a dotted module name belongs to, None for the core or third parties."""
    parts = module.split(".")
    if parts[0] == "simplepose" and len(parts) > 1 and parts[1] in UPPER:
        return parts[1]
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def references(source: str) -> set[str]:
    """Every stage/root a module imports or names: import statements (also inside functions),
    ``from simplepose import serving``, and strings such as ``importlib.import_module(
    "simplepose.training.cli")``. Docstrings are prose and do not count."""
    tree = ast.parse(source)
    found: set[str] = set()
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_layer(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(filter(None, [_layer(node.module)]))
            if node.module == "simplepose":
                found.update(a.name for a in node.names if a.name in UPPER)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        ):
            for match in NAMED.finditer(node.value):
                found.add(match.group(1) or match.group(2))
        elif isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            literal = node.args and isinstance(node.args[0], ast.Constant)
            if func in ("importlib.import_module", "import_module", "__import__") and not literal:
                found.add("<dynamic import>")
    return found


def _files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _files("simplepose"), ids=lambda p: str(p.relative_to(REPO)))
def test_core_imports_no_stage(path: Path) -> None:
    assert references(path.read_text()) == set(), "the core must not import or name a stage"


@pytest.mark.parametrize(
    "path", [p for s in STAGES for p in _files(s)], ids=lambda p: str(p.relative_to(REPO))
)
def test_stages_import_only_the_core_and_themselves(path: Path) -> None:
    rel = path.relative_to(REPO)
    own = rel.parts[0]
    # stages may import optional third-party packages by variable name (export's ONNX support)
    allowed = {own, "<dynamic import>", *CROSS_STAGE.get(rel.as_posix(), set())}
    assert references(path.read_text()) - allowed == set()


def test_the_composition_root_names_every_stage() -> None:
    assert references((REPO / ROOT / "__init__.py").read_text()) == set(STAGES)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from simplepose.serving.cli import x", {"serving"}),
        ("import simplepose.training.trainer as t", {"training"}),
        ("from simplepose import export", {"export"}),
        ("def f():\n    from simplepose.cli import main", {"cli"}),
        ("import importlib\nimportlib.import_module('simplepose.training.cli')", {"training"}),
        ("MODULES = ('export.cli',)", {"export"}),
        ("import importlib\nname = 'x'\nimportlib.import_module(name)", {"<dynamic import>"}),
        ('"""Docstring naming simplepose.serving in prose."""\nimport numpy', set()),
        ("from simplepose.config.presets import Config\nimport numpy.training", set()),
    ],
)
def test_references_sees_every_form(source: str, expected: set[str]) -> None:
    assert references(source) == expected
