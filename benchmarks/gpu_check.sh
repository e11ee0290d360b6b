#!/usr/bin/env bash
# GPU check (under 5 minutes on one GPU, no download): MMFT fine-tuning of a random-weight open_clip ViT-B-32
# with AMP and batched captioning by the default embedded captioner; prints captions/s, images/s, peak GPU
# memory and last ratio=<kit/bare>.  Usage: bash benchmarks/gpu_check.sh [--smoke] [options of gpu_check.py]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
if [[ " $* " != *" --smoke "* ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || {
        echo "no GPU found: run with --smoke for the CPU check" >&2; exit 1; }
fi
exec "$PY" -m benchmarks.gpu_check "$@"
