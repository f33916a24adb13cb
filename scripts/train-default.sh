#!/usr/bin/env bash
# Reproduces models/default/: the `fast` preset trained on the ten default classes, rendered from all
# four Debian soundfonts, split by clip (no clip in both train and test). About 20 minutes on 2 cores
# (synth 4, mix 1, features 2, training 9, eval 3).
#   bash scripts/train-default.sh [work folder, default /tmp/stemscope-default]
# The held-out-soundfont quality measurement is scripts/train-heldout.sh (same data and recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-default}
source scripts/recipe.sh

recipe_synth "$work"
recipe_mix "$work" "$work/train_data" --split-by clip
recipe_train_eval "$work/train_data" "$work/run"

mkdir -p models/default
cp "$work/run/config.json" "$work/run/weights.safetensors" "$work/run/train_log.jsonl" "$work/run/metrics.json" models/default/
rm -rf models/default/report && cp -r "$work/run/report" models/default/report
