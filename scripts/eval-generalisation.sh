#!/usr/bin/env bash
# The generalisation protocol of issue 17: leave one source group out. For every held-out group G (of
# the allowed sources, see `stemscope synth --list-timbres`) and every source count K:
#   1. train on mixtures drawn afresh from every other group's clips (`train --hold-out G`);
#   2. test on mixtures made only from G's clips (`mix --groups G`): timbres the model never heard;
#   3. test in-domain on mixtures of the other groups' validation clips (the clips training held back);
# each with the oracle of the model's resynthesis (ideal ratio masks in its own feature domain).
# Writes <work>/generalisation.md (named accuracy, all-named, per-class recall, SI-SDRi) and prints it.
#
#   bash scripts/eval-generalisation.sh [work folder, default /tmp/stemscope-logo]
# Settings (environment): HELD_OUT="a320u timgm6mb sonivox", SOURCES="2 3", PER_CLASS=800 (clips per
# class synthesised once into <work>/raw_data), MIXTURES=16384, EPOCHS=2 (mixtures drawn per epoch,
# epochs), TEST_PER_COMBINATION (held-out test mixtures per class combination: 20 for K=2, 8 for K=3),
# TRAIN_FLAGS (the recipe, below). Every random choice comes from the seeds here.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-logo}
held_out=${HELD_OUT:-a320u timgm6mb sonivox}
source_counts=${SOURCES:-2 3}
per_class=${PER_CLASS:-800}
mixtures=${MIXTURES:-16384}
epochs=${EPOCHS:-2}
train_flags=${TRAIN_FLAGS:---preset fast --features native --unet-output mask --loss-weight 0.9 --reference-weight 1 --schedule cosine --lr 0.003 --batch-size 32 --bf16 auto --seed 0}
stemscope() { node --import tsx src/cli/main.ts "$@"; }

raw=$work/raw_data
if [ ! -f "$raw/synth.json" ] || [ ! -f "$raw/manifest.jsonl" ]; then
  stemscope synth --out "$raw" --per-class "$per_class" --seconds 2 --seed 0
fi
# Every group of the library, from its manifest.
all_groups=$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  console.log([...new Set(lines.map((l) => { const e = JSON.parse(l); return e.group ?? e.soundfont; }))].sort().join(" "));
' "$raw/manifest.jsonl")

for k in $source_counts; do
  per_combination=${TEST_PER_COMBINATION:-$([ "$k" = 2 ] && echo 20 || echo 8)}
  for g in $held_out; do
    others=$(echo "$all_groups" | tr ' ' '\n' | grep -vx "$g" | paste -sd, -)
    run=$work/runs/k$k-$g
    heldout_data=$work/test/k$k-$g
    indomain_data=$work/test/k$k-without-$g
    [ -f "$heldout_data/labels.txt" ] || stemscope mix --data "$raw" --out "$heldout_data" --groups "$g" \
      --sources "$k" --split-by clip --test-fraction 0 --samples-per-combination "$per_combination" --seed 1 --quiet
    # The same seed and fraction as training's clip split: the test side holds the clips training held back.
    [ -f "$indomain_data/labels.txt" ] || stemscope mix --data "$raw" --out "$indomain_data" --groups "$others" \
      --sources "$k" --split-by clip --test-fraction 0.2 --samples-per-combination "$((per_combination * 5 / 2))" --seed 0 --quiet
    trained=$([ -f "$run/metrics.json" ] && node -e 'console.log(require(process.argv[1]).epochs)' "$run/metrics.json" || echo 0)
    if [ "$trained" -lt "$epochs" ]; then
      # A run interrupted earlier (config.json written) is resumed: same settings, more epochs if asked.
      resume=$([ -f "$run/config.json" ] && echo --resume || true)
      # shellcheck disable=SC2086
      stemscope train --data "$raw" --out "$run" --hold-out "$g" --sources "$k" --mixtures "$mixtures" \
        --epochs "$epochs" $resume $train_flags --quiet
    fi
    stemscope eval --model "$run" --data "$heldout_data" --subset all --oracle --out "$run/heldout" --quiet > /dev/null
    stemscope eval --model "$run" --data "$indomain_data" --subset test --oracle --out "$run/indomain" --quiet > /dev/null
  done
done
node --import tsx scripts/generalisation-table.ts "$work" | tee "$work/generalisation.md"
