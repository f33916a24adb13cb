#!/usr/bin/env bash
# The main job end to end on small built-in data, in a few minutes on 2 cores:
#   1. render a small raw_data library from the Debian soundfonts (4 instruments × 30 clips),
#   2. mix it into a two-instrument train_data set (the seed's 01.py) and validate it,
#   3. train the `tiny` joint U-Net + ResNet on it for a few epochs (the seed's 02.py),
#   4. evaluate it, then name the instruments in examples/ and separate one of them —
#      with the default model in models/default/ when it is there, else with the demo model.
# Outputs go to ${STEMSCOPE_DEMO_DIR:-demo-output}/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${STEMSCOPE_DEMO_DIR:-demo-output}
stemscope() { node bin/stemscope.js "$@"; }
mkdir -p "$out"

echo "== 1. synth: real sampled instruments from soundfonts"
stemscope synth --out "$out/raw_data" --classes bass,flute,piano,violin --per-class 30 --seconds 2 \
  --soundfonts fluidr3,timgm6mb --seed 0
echo "== 2. mix + check"
stemscope mix --data-dir "$out/raw_data" --output-dir "$out/train_data" --samples-per-combination 40 --seed 0
stemscope check "$out/train_data"
echo "== 3. train (tiny preset)"
if [[ -f "$out/run/checkpoint.json" ]]; then resume=(--resume); else resume=(); fi
stemscope train --data "$out/train_data" --out "$out/run" --preset tiny --features native --epochs 4 \
  --batch-size 16 --lr 0.003 --seed 0 "${resume[@]}"
echo "== 4. evaluate"
stemscope eval --model "$out/run" --data "$out/train_data" --report "$out/report"
model=()
[[ -f models/default/config.json ]] || model=(--model "$out/run")
echo "== 5. predict the example mixtures (${model[1]:-models/default})"
stemscope predict examples/*.wav "${model[@]}"
echo "== 6. separate examples/piano+violin.wav"
stemscope separate examples/piano+violin.wav "${model[@]}" --out "$out/separated"
echo "done: see $out/ (report/report.md, separated/)"
