#!/usr/bin/env bash
# The quality measurement of the model issue: the `fast` preset trained for 30 minutes on mixtures of
# clips from three soundfonts (fluidr3, musescore, timgm6mb), tested on mixtures made only from the
# fourth (a320u, denemo-data's A320U.sf2). Same data and recipe as scripts/train-default.sh.
#   bash scripts/train-heldout.sh [work folder, default /tmp/stemscope-default]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-default}
stemscope() { node --import tsx src/cli/main.ts "$@"; }

stemscope synth --out "$work/raw_data" --per-class 1200 --seconds 2 --soundfonts all --seed 0
stemscope mix --data-dir "$work/raw_data" --output-dir "$work/heldout_data" --samples-per-combination 300 \
  --seed 0 --split-by soundfont --test-soundfonts a320u
stemscope train --data "$work/heldout_data" --out "$work/heldout_run" --preset fast --features native \
  --unet-output mask --schedule cosine --lr 0.003 --epochs 4 --batch-size 32 --bf16 --seed 0
stemscope eval --model "$work/heldout_run" --data "$work/heldout_data" --report "$work/heldout_run/report"
