#!/usr/bin/env bash
# Trains the recipe of scripts/recipe.sh — the `fast` preset trained on mixtures drawn afresh from a
# clip library of every allowed source group — evaluates it in-domain on mixtures of the clips
# training held back, calibrates its no-instrument threshold, then copies it to models/default or to
# the model folder given second (models/general was made by `… /tmp/w models/general`; the shipped
# models/default is the recipe of commit 1304bb3's, which this script reproduced then).
#   bash scripts/train-default.sh [work folder, default /tmp/stemscope-default] [model folder]
# How it does on timbres it never heard: scripts/eval-generalisation.sh (same recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-default}
target=${2:-models/default}
source scripts/recipe.sh

[ -f "$work/raw_data/synth.json" ] || recipe_synth "$work/raw_data"
recipe_train "$work/raw_data" "$work/run"
[ -f "$work/test_data/labels.txt" ] || recipe_test_mix "$work/raw_data" "$work/test_data" 50
stemscope eval --model "$work/run" --data "$work/test_data" --subset test --oracle --out "$work/run/report"
node --import tsx scripts/calibrate-none.ts --model "$work/run" --data "$work/test_data" --write

mkdir -p "$target"
cp "$work/run/config.json" "$work/run/weights.safetensors" "$work/run/train_log.jsonl" "$work/run/metrics.json" "$target/"
rm -rf "$target/report" && cp -r "$work/run/report" "$target/report"
