"""The import contracts of pyproject.toml ([tool.importlinter]) hold on the tree, and each one
breaks on a violation planted in a copy of it (relative imports, imports inside functions,
aliases, a new import from a module that has a declared exception).

import-linter sees import statements only, not ``import_module("simplepose.training")``: the
AST scan at the end finds strings naming a stage, and imports by a computed name, in the core.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
STAGES = ("training", "export", "serving", "cli")  # top-level folders linked into simplepose/
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = [
    c["id"]
    for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
]

# (contract, file in the copy, source to add; appended when the file exists, reported importer)
PLANTED = [
    ("layers", "simplepose/pose/planted.py", "from ..training import trainer\n", None),
    (
        "layers",
        "simplepose/video/planted.py",
        "def f():\n    import simplepose.serving.app\n",
        None,
    ),
    ("layers", "training/planted.py", "from simplepose.cli import main\n", None),
    ("layers", "simplepose/unplaced.py", "VALUE = 1\n", "simplepose.unplaced"),  # exhaustive
    ("root", "simplepose/__init__.py", "from .export import exporter\n", "simplepose"),
    ("root", "simplepose/__init__.py", "import uvicorn\n", "simplepose"),
    ("stages", "export/planted.py", "from ..serving import settings\n", None),
    ("stages", "serving/demo.py", "from simplepose.training import dataset\n", None),
    ("web", "simplepose/pose/planted.py", "import fastapi\n", None),
    ("web", "cli/planted.py", "from starlette.responses import Response\n", None),
    ("web", "training/planted.py", "import uvicorn as server\n", None),
    ("mindspore", "serving/planted.py", "import mindspore as ms\n", None),
    ("mindspore", "simplepose/runtime/planted.py", "from mindspore import nn\n", None),
    ("mindspore", "simplepose/pose/planted.py", "def f():\n    import mindspore.ops\n", None),
    (
        "no-bench-tests",
        "simplepose/video/planted.py",
        "from tests.localhost import free_port\n",
        None,
    ),
    ("no-bench-tests", "serving/planted.py", "import bench._coco as coco\n", None),
]


def _lint(root: Path, contract: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(LINT_IMPORTS), "--no-cache", "--no-logo"]
    if contract:
        command.append(f"--contract={contract}")
    # lint-imports puts its working directory first on sys.path: it analyses that tree
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)


def _module(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    if parts[0] in STAGES:
        parts = ("simplepose", *parts)
    return ".".join(p for p in parts if p != "__init__")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked Python files of the package and the stages, symlinks kept as symlinks."""
    root = tmp_path_factory.mktemp("tree")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "pyproject.toml", "simplepose", *STAGES],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source, target = REPO / name, root / name
        if not (source.is_symlink() or name.endswith((".py", ".toml"))):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            shutil.copyfile(source, target)
    assert (root / "simplepose" / "serving").is_symlink()
    return root


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


def test_every_contract_has_a_planted_violation() -> None:
    assert sorted({case[0] for case in PLANTED}) == sorted(CONTRACTS)


def test_the_copy_keeps_every_contract(tree: Path) -> None:
    """The baseline of the planted cases: the copy alone passes."""
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("contract, path, source, importer", PLANTED, ids=lambda v: str(v)[:40])
def test_each_contract_catches_its_planted_violation(
    tree: Path, tmp_path: Path, contract: str, path: str, source: str, importer: str | None
) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(tree, copy, symlinks=True)
    target = copy / path
    target.write_text((target.read_text() if target.exists() else "") + source)
    result = _lint(copy, contract)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "0 kept, 1 broken" in output
    assert re.search(rf"(^|\W){re.escape(importer or _module(path))}(\W|$)", output), output


# -- what import-linter cannot see: imports by name in the core ---------------------------------

STAGE_NAME = re.compile(rf"\bsimplepose\.({'|'.join(STAGES)})\b|^({'|'.join(STAGES)})(\.\w+)+$")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def dynamic_references(source: str) -> list[str]:
    """Strings naming a stage module (``"simplepose.training"``, ``"export.cli"``; docstrings
    are prose) and calls of ``import_module`` / ``__import__`` under any alias with a name
    that is not a literal (it could name anything)."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            found += [m.group(0) for m in STAGE_NAME.finditer(node.value)]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            literal = isinstance(node.args[0], ast.Constant)
            if name in ("import_module", "__import__") and not literal:
                found.append(f"{ast.unparse(func)}(<computed name>)")
    return found


def _core_files() -> list[Path]:
    core = REPO / "simplepose"
    return sorted(
        p for p in core.rglob("*.py") if p.relative_to(core).parts[0] not in STAGES
    )  # rglob does not follow the stage symlinks; the filter says so anyway


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_core_names_no_stage(path: Path) -> None:
    assert dynamic_references(path.read_text()) == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import importlib as il\nil.import_module('simplepose.training')", ["simplepose.training"]),
        ("from importlib import import_module as load\nload('simplepose.cli.models')",
         ["simplepose.cli"]),
        ("MODULES = ('export.cli', 'serving.api.app')", ["export.cli", "serving.api.app"]),
        ("import importlib as il\nname = 'x'\nil.import_module(name)",
         ["il.import_module(<computed name>)"]),
        ("__import__(f'simplepose.{stage}')", ["__import__(<computed name>)"]),
        ('"""Docstring naming simplepose.serving in prose."""\nimport numpy', []),
        ("NAMES = ('training', 'pose.codec', 'a training.run')\nimport numpy.training", []),
    ],
)  # fmt: skip
def test_dynamic_references_sees_every_form(source: str, expected: list[str]) -> None:
    assert dynamic_references(source) == expected


def test_import_linter_cannot_see_an_aliased_import_module(tree: Path, tmp_path: Path) -> None:
    """Why the scan above exists: this planted import passes every contract."""
    copy = tmp_path / "tree"
    shutil.copytree(tree, copy, symlinks=True)
    source = "import importlib as il\n\nil.import_module('simplepose.training.trainer')\n"
    (copy / "simplepose" / "pose" / "planted.py").write_text(source)
    assert _lint(copy).returncode == 0
    assert dynamic_references(source) == ["simplepose.training"]
