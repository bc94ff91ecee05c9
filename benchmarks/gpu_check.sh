#!/usr/bin/env bash
# The GPU check: the whole course at the `gpu-smoke` preset (the built-in store at `cpu` size, a
# scratch Qwen3-architecture model of about 27M parameters in bf16, nothing fetched from a hub),
# then the decoding and training benchmarks on that run. About 10 minutes on one GPU.
#
#   benchmarks/gpu_check.sh            # run it (stops at once when torch sees no CUDA device)
#   benchmarks/gpu_check.sh --dry-run  # print the commands it would run, one per line, and stop
#
# Each step's wall time is printed as it ends and again in a table at the end; the figures to
# quote are the course's `summary.md`, bench_decode's `speedup=` line and bench_train's `best=` line.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
RUN=${RUN:-gpu-smoke}

STEPS=(
    "ci/run_notebooks.py --preset gpu-smoke --run $RUN"
    "benchmarks/bench_decode.py --run $RUN --users 1000 --batch-size 64"
    "benchmarks/bench_train.py --run $RUN --preset gpu-smoke --steps 60"
)

if [[ "${1:-}" == "--dry-run" ]]; then
    printf '%s\n' "${STEPS[@]}"
    exit 0
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--dry-run]" >&2
    exit 2
fi

"$PY" - <<'EOF'
import sys
import torch

if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device; this check needs one GPU (see the README's presets).")
print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
EOF

times=()
for step in "${STEPS[@]}"; do
    echo "== $step"
    start=$SECONDS
    # shellcheck disable=SC2086  # each step is a script and its arguments, split on spaces on purpose
    "$PY" $step
    times+=("$((SECONDS - start))")
    echo "== ${times[-1]} s: $step"
done

echo
printf '%8s  %s\n' seconds step
for i in "${!STEPS[@]}"; do
    printf '%8s  %s\n' "${times[$i]}" "${STEPS[$i]}"
done
