#!/usr/bin/env bash
# Entry point of both images (Ascend and CPU).
#
#   entrypoint.sh                  -> simplepose serve   (settings from SIMPLEPOSE_* variables)
#   entrypoint.sh SUBCOMMAND ARGS  -> simplepose SUBCOMMAND ARGS   (train, export, evaluate, ...)
#   entrypoint.sh PROGRAM ARGS     -> PROGRAM ARGS        (e.g. bash, npu-smi info)
#
# It loads the CANN environment when the image has one and checks that an Ascend run can see an
# NPU before MindSpore fails with a less readable message. (MindSpore's oneDNN CPU cap is set by
# simplepose itself when MindSpore loads; a process serving ONNX keeps the CPU's full ISA.)
set -euo pipefail

# The CANN base images (8.x and 9.x) keep set_env.sh under ascend-toolkit/; newer standalone
# installs put it under cann/; ASCEND_SET_ENV names another location. The CPU image has none.
CANN_ENV_SCRIPTS=(
    "${ASCEND_SET_ENV:-}"
    /usr/local/Ascend/ascend-toolkit/set_env.sh
    /usr/local/Ascend/cann/set_env.sh
)
NPU_MANAGER_NODE=/dev/davinci_manager
SUBCOMMANDS=" serve predict detect train evaluate data export convert weights keys "
NO_NPU_SUBCOMMANDS=" keys "  # e.g. creating API keys on a host without NPUs

load_cann_env() {
    local script
    for script in "${CANN_ENV_SCRIPTS[@]}"; do
        if [[ -n "$script" && -f "$script" ]]; then
            # Vendor scripts read unset variables; relax -u while sourcing.
            set +u
            # shellcheck source=/dev/null
            source "$script"
            set -u
            return 0
        fi
    done
    return 0
}

check_npu_visible() {
    if [[ "${SIMPLEPOSE_DEVICE:-}" == "Ascend" && ! -e "$NPU_MANAGER_NODE" ]]; then
        echo "entrypoint: SIMPLEPOSE_DEVICE=Ascend but $NPU_MANAGER_NODE is not in the container." >&2
        echo "entrypoint: pass the NPU devices and driver mounts (docker-compose.yml, service" >&2
        echo "entrypoint: 'keypoints') or run with the Ascend Docker Runtime (ASCEND_VISIBLE_DEVICES)." >&2
        exit 3
    fi
}

load_cann_env

if [[ $# -eq 0 ]]; then
    set -- serve
fi
if [[ "$SUBCOMMANDS" == *" $1 "* ]]; then
    if [[ "$NO_NPU_SUBCOMMANDS" != *" $1 "* ]]; then
        check_npu_visible
    fi
    exec simplepose "$@"
fi
exec "$@"
