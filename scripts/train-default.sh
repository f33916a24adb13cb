#!/usr/bin/env bash
# Reproduces models/default/: the `fast` preset trained on the ten default classes, rendered from all
# four Debian soundfonts (a split by clip: no clip in both train and test). Every random choice comes
# from the seeds below. About 35 minutes on 2 cores (synth 2, mix 1, features 1, training 30).
#   bash scripts/train-default.sh [work folder, default /tmp/stemscope-default]
# The held-out-soundfont quality measurement is scripts/train-heldout.sh (same data and recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-default}
stemscope() { node --import tsx src/cli/main.ts "$@"; }

stemscope synth --out "$work/raw_data" --per-class 1200 --seconds 2 --soundfonts all --seed 0
stemscope mix --data-dir "$work/raw_data" --output-dir "$work/train_data" --samples-per-combination 300 \
  --seed 0 --split-by clip
stemscope train --data "$work/train_data" --out "$work/run" --preset fast --features native \
  --unet-output mask --schedule cosine --lr 0.003 --epochs 4 --batch-size 32 --bf16 --seed 0
stemscope eval --model "$work/run" --data "$work/train_data" --report "$work/run/report"

mkdir -p models/default
cp "$work/run/config.json" "$work/run/weights.safetensors" "$work/run/train_log.jsonl" "$work/run/metrics.json" models/default/
rm -rf models/default/report && cp -r "$work/run/report" models/default/report
