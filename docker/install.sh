#!/usr/bin/env bash
# Install simplepose into a Python environment, in two steps so Docker can cache the first:
#
#   install.sh deps PYPROJECT   third-party dependencies listed in pyproject.toml ([project]
#                               dependencies), nothing of the project itself
#   install.sh project SRC      the project from its source tree, without touching the deps
#
# Both Dockerfiles run exactly these two steps (deps before the code is copied, so editing the
# code does not reinstall MindSpore), and tests/docker/test_install.py runs them in a fresh venv.
#
# Environment:
#   PYTHON             interpreter whose environment receives the packages (default: python3)
#   MINDSPORE_VERSION  exact MindSpore release to install (default: newest allowed by pyproject)
#   PIP_NO_CACHE_DIR   set to 1 in images to keep pip's cache out of the layer
#
# Everything installed is a pure-Python or manylinux wheel published for both x86_64 and
# aarch64, so the same script builds linux/amd64 and linux/arm64 images. (MindSpore 2.10.0's
# aarch64 wheel is tagged cp311-none-any on PyPI; x86_64 still gets its manylinux1_x86_64 wheel,
# because pip prefers the more specific tag.)
set -euo pipefail

PYTHON="${PYTHON:-python3}"

usage() {
    echo "usage: $0 deps PYPROJECT | project SRC_DIR" >&2
    exit 2
}

# Print [project].dependencies of a pyproject.toml, one requirement a line.
list_dependencies() {
    "$PYTHON" - "$1" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
sys.stdout.write("".join(f"{d}\n" for d in deps))
PY
}

install_deps() {
    local pyproject="$1"
    [[ -f "$pyproject" ]] || { echo "install.sh: $pyproject not found" >&2; exit 2; }
    local requirements
    requirements="$(mktemp)"
    # shellcheck disable=SC2064  # expand now: the path is fixed
    trap "rm -f '$requirements'" EXIT
    list_dependencies "$pyproject" >"$requirements"
    if [[ -n "${MINDSPORE_VERSION:-}" ]]; then
        echo "mindspore==${MINDSPORE_VERSION}" >>"$requirements"
    fi
    # Wheels only: no compiler in the images, and no package silently built for one arch only.
    "$PYTHON" -m pip install --only-binary=:all: -r "$requirements"
}

install_project() {
    local src="$1"
    [[ -f "$src/pyproject.toml" ]] || { echo "install.sh: $src has no pyproject.toml" >&2; exit 2; }
    "$PYTHON" -m pip install --no-deps "$src"
    # Fail the build here, not at the first request, if a dependency is missing or broken.
    "$PYTHON" -m pip check
    # From / so the checkout's own simplepose/ folder cannot shadow the installed package.
    (cd / && "$PYTHON" -c "import simplepose.serving.settings, simplepose.training, simplepose.export")
}

[[ $# -eq 2 ]] || usage
case "$1" in
    deps) install_deps "$2" ;;
    project) install_project "$2" ;;
    *) usage ;;
esac
