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
# Settings (environment): HELD_OUT="a320u timgm6mb sonivox", SOURCES="2 3", MIXTURES and EPOCHS
# (mixtures drawn per epoch, epochs), TEST_PER_COMBINATION (held-out test mixtures per class
# combination: 20 for K=2, 8 for K=3), TRAIN_FLAGS; the defaults are scripts/recipe.sh's (the clip
# library, RECIPE_PER_CLASS clips per class, is synthesised once into <work>/raw_data). With the
# recipe's 24 epochs a fold trains for about 95 min on 2 cores (and the library takes ~15 min once);
# MIXTURES=4320 EPOCHS=3 (~15 min) is the quick protocol the README's diagnostics use — those were
# measured on the library of before, which RECIPE_PER_CLASS=800 reproduces.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-logo}
source scripts/recipe.sh
held_out=${HELD_OUT:-a320u timgm6mb sonivox}
source_counts=${SOURCES:-2 3}
mixtures=${MIXTURES:-$RECIPE_MIXTURES}
epochs=${EPOCHS:-$RECIPE_EPOCHS}
train_flags=${TRAIN_FLAGS:-$RECIPE_TRAIN_FLAGS}

raw=$work/raw_data
[ -f "$raw/synth.json" ] && [ -f "$raw/manifest.jsonl" ] || recipe_synth "$raw"
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
    [ -f "$indomain_data/labels.txt" ] || recipe_test_mix "$raw" "$indomain_data" "$((per_combination * 5 / 2))" \
      --groups "$others" --sources "$k"
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
