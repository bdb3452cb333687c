#!/usr/bin/env bash
# Install simplepose into a Python environment, in two steps so Docker can cache the first:
#
#   install.sh deps LOCKFILE    the third-party dependencies pinned in a lock made by `make lock`
#                               from pyproject.toml (requirements.lock: the Ascend image, with
#                               MindSpore; requirements-cpu.lock: the CPU image, ONNX serving
#                               without MindSpore), exactly those versions and nothing of the
#                               project itself
#   install.sh project SRC      the project from its source tree, without touching the deps
#
# Both Dockerfiles run exactly these two steps (deps before the code is copied, so editing the
# code does not reinstall MindSpore), and tests/docker/test_docker_install.py runs them in a fresh venv.
#
# Environment:
#   PYTHON             interpreter whose environment receives the packages (default: python3)
#   MINDSPORE_VERSION  MindSpore release the image expects; must be the locked one (a check that
#                      the Dockerfile's ARG and the lock agree); unset for a lock without it
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

install_deps() {
    local lock="$1"
    [[ -f "$lock" ]] || { echo "install.sh: $lock not found" >&2; exit 2; }
    if [[ -n "${MINDSPORE_VERSION:-}" ]] && ! grep -qx "mindspore==${MINDSPORE_VERSION}" "$lock"; then
        echo "install.sh: $lock does not pin mindspore==${MINDSPORE_VERSION}; change the pin in" \
            "pyproject.toml and run 'make lock', or change MINDSPORE_VERSION" >&2
        exit 2
    fi
    # Wheels only: no compiler in the images, and no package silently built for one arch only.
    # --no-deps: the lock already lists every transitive dependency, at the tested version.
    "$PYTHON" -m pip install --only-binary=:all: --no-deps -r "$lock"
}

install_project() {
    local src="$1"
    [[ -f "$src/pyproject.toml" ]] || { echo "install.sh: $src has no pyproject.toml" >&2; exit 2; }
    "$PYTHON" -m pip install --no-deps "$src"
    # Fail the build here, not at the first request, if a dependency is missing or broken.
    "$PYTHON" -m pip check
    # From / so the checkout's own simplepose/ folder cannot shadow the installed package.
    # What every image runs: the service and the Python API (MindSpore only where it is locked).
    (cd / && "$PYTHON" -c "import simplepose.serving.main, simplepose.estimator, simplepose.cli")
}

[[ $# -eq 2 ]] || usage
case "$1" in
    deps) install_deps "$2" ;;
    project) install_project "$2" ;;
    *) usage ;;
esac
