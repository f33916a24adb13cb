#!/usr/bin/env bash
# The quality measurement of the model issue: the `fast` preset trained on mixtures of clips from three
# soundfonts (fluidr3, musescore, timgm6mb) and tested on mixtures made only from the fourth (a320u,
# denemo-data's A320U.sf2). Same data and recipe as scripts/train-default.sh.
#   bash scripts/train-heldout.sh [work folder, default /tmp/stemscope-default]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/stemscope-default}
source scripts/recipe.sh

recipe_synth "$work"
recipe_mix "$work" "$work/heldout_data" --split-by soundfont --test-soundfonts a320u
recipe_train_eval "$work/heldout_data" "$work/heldout_run"
