#!/usr/bin/env bash
# Reproduces models/default/: the recipe of scripts/recipe.sh — the `fast` preset trained on mixtures
# drawn afresh from a clip library of every allowed source group — evaluated in-domain on mixtures of
# the clips training held back, its no-instrument threshold calibrated, then copied to models/default.
#   bash scripts/train-default.sh [work folder, default /tmp/stemscope-default]
# How it does on timbres it never heard: scripts/eval-generalisation.sh (same recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-default}
source scripts/recipe.sh

[ -f "$work/raw_data/synth.json" ] || recipe_synth "$work/raw_data"
recipe_train "$work/raw_data" "$work/run"
[ -f "$work/test_data/labels.txt" ] || recipe_test_mix "$work/raw_data" "$work/test_data" 50
stemscope eval --model "$work/run" --data "$work/test_data" --subset test --oracle --out "$work/run/report"
node --import tsx scripts/calibrate-none.ts --model "$work/run" --data "$work/test_data" --write

mkdir -p models/default
cp "$work/run/config.json" "$work/run/weights.safetensors" "$work/run/train_log.jsonl" "$work/run/metrics.json" models/default/
rm -rf models/default/report && cp -r "$work/run/report" models/default/report
