"""Every repository path and every ``simplepose.x.y`` name the docs mention exists.

Modules move (the core is grouped into ``simplepose/{pose,video,runtime,config,hub,...}``) and
a page that still names the old place sends a reader to nothing. Paths are checked on disk;
dotted names are resolved statically (packages and modules on disk, then top-level names and
class members with ``ast``), so no MindSpore or FastAPI import is needed.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOP_DIRS = "simplepose|serving|export|training|cli|bench|tests|docker|deploy|configs"
# A repository-relative path: not part of an absolute or home path (/run/secrets/simplepose/...,
# ~/.cache/simplepose/...), nor of a prose list such as "train/evaluate/export".
PATH = re.compile(rf"(?<![\w/.~-])(?:{TOP_DIRS})/[\w./-]*")
DOTTED = re.compile(r"(?<![\w/.-])simplepose(?:\.[A-Za-z_]\w*)+")
# Names that look like modules but are not: the WebSocket subprotocols of docs/access.md and
# the entry-point group the core's PoseEstimator looks up (declared in pyproject.toml).
NOT_MODULES = {"simplepose.v1", "simplepose.key", "simplepose.key.KEY", "simplepose.model_builders"}


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@cache
def module_names(path: Path) -> dict[str, ast.AST]:
    """Top-level names a module defines or imports, with the node that binds them."""
    names: dict[str, ast.AST] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update((t.id, node) for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update(((a.asname or a.name).split(".")[0], node) for a in node.names)
        elif isinstance(node, ast.If | ast.Try):  # TYPE_CHECKING blocks, optional imports
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom | ast.Import):
                    names.update(((a.asname or a.name).split(".")[0], inner) for a in inner.names)
    return names


def class_members(node: ast.ClassDef) -> set[str]:
    members = set()
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            members.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.add(item.target.id)
        elif isinstance(item, ast.Assign):
            members.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return members


def resolves(dotted: str) -> bool:
    """Whether ``simplepose.a.b.C.m`` names a package, module, top-level name or class member."""
    parts = dotted.split(".")
    here = REPO / "simplepose"
    rest: list[str] = []
    for i, part in enumerate(parts[1:], 1):
        if (here / part / "__init__.py").is_file():
            here = here / part
            continue
        if (here / f"{part}.py").is_file():
            module, rest = here / f"{part}.py", parts[i + 1 :]
        else:
            module, rest = here / "__init__.py", parts[i:]
        break
    else:
        return True  # a package
    if not rest:
        return True  # a module
    node = module_names(module).get(rest[0])
    if node is None:
        return False
    if len(rest) == 1 or not isinstance(node, ast.ClassDef):
        return True  # deeper names of an imported or assigned object are not followed
    return rest[1] in class_members(node)


def references(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(file:line, reference) for every match of ``pattern`` in the docs."""
    found = []
    for path in doc_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in pattern.finditer(line):
                found.append((f"{path.relative_to(REPO)}:{number}", match.group().rstrip(".")))
    return found


def test_every_repository_path_in_the_docs_exists() -> None:
    refs = references(PATH)
    assert len(refs) > 50  # the pattern still finds the docs' paths
    missing = [f"{where}: {ref}" for where, ref in refs if not (REPO / ref).exists()]
    assert not missing, "paths the docs name that do not exist:\n" + "\n".join(missing)


def test_every_dotted_simplepose_name_in_the_docs_resolves() -> None:
    refs = [(where, ref) for where, ref in references(DOTTED) if ref not in NOT_MODULES]
    assert len(refs) > 10
    missing = [f"{where}: {ref}" for where, ref in refs if not resolves(ref)]
    assert not missing, "names the docs use that do not exist:\n" + "\n".join(missing)


def test_the_resolver_tells_real_names_from_moved_ones() -> None:
    assert resolves("simplepose.pose.pipeline.PosePipeline.preprocess")
    assert resolves("simplepose.serving.access")  # a stage, through its symlink
    assert resolves("simplepose.detection.load_detector")  # re-exported by the package
    assert not resolves("simplepose.pipeline.PosePipeline")  # the flat layout's module
    assert not resolves("simplepose.pose.pipeline.PosePipeline.no_such_method")
    assert not resolves("simplepose.codec")
