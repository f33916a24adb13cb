# The data and training recipe shared by scripts/train-default.sh and scripts/eval-generalisation.sh
# (sourced, not run). Every random choice comes from the seeds here; each setting can be overridden
# from the environment.
stemscope() { node --import tsx src/cli/main.ts "$@"; }

# Clips per class, synthesised from every allowed source group with timbre transformations
# (`stemscope synth --list-timbres` shows them). More clips, the same training (24 × 8,640 mixtures,
# the same time), name more unheard sources: 800 → 2,400 named 56.0 → 61.6 % of the held-out A320U
# sources (+6.3 → +6.7 dB), 2,400 → 4,800 named 47.9 → 52.6 % of the held-out Sonivox sources, the
# weakest group (all named 18.4 → 23.4 %, +6.3 → +6.5 dB): each clip (its notes, level and
# transformations) is heard ~14 times in training instead of ~27 (~80 with 800; docs/quality.md, "A larger clip library",
# "4,800 clips per class"). Synthesis: ~15 min on 2 cores, 6 GiB on disk; the trainer holds the
# clips as 16-bit samples (~8 GiB peak RSS; `--clip-storage disk` in the train flags reads them from
# their files instead). 9,600 clips named 49.1 % of the Sonivox sources after the same 24 epochs
# (docs/quality.md, "9,600 clips per class"): more clips of the same recordings stopped helping.
RECIPE_PER_CLASS=${RECIPE_PER_CLASS:-4800}
# Clip length, seconds. Mixtures are 2 s, cut at a random place of each longer clip (as `predict`'s
# windows cut a recording), so the model also hears notes that began before the window: trained on
# 2-s clips (every window starting at a note) the 14-epoch model named 51.6 % of in-domain windows
# that begin anywhere, trained on 4-s clips 64.9 % (docs/quality.md).
RECIPE_SECONDS=${RECIPE_SECONDS:-4}
# Mixtures drawn afresh from the clips per epoch, and epochs: the 2-hour budget decides. 24 × 8,640
# took 94 min of training on 2 cores (AMD EPYC Zen 4, bf16; ~225 s an epoch on a quiet machine) and
# named 66.4 % of in-domain windows anywhere (SI-SDRi +6.1 dB) against 64.9 % (+5.4 dB) after 14
# epochs; with 2-s clips 14 epochs named 68.4 % against 64.8 % after 6 and 59.1 % after 3
# (docs/quality.md). On 4,800 clips per class 32 epochs (117 min) named 74.4 % in-domain against
# 72.6 % but 51.6 % of the held-out Sonivox sources against 52.6 %: not worth the time.
RECIPE_MIXTURES=${RECIPE_MIXTURES:-8640}
RECIPE_EPOCHS=${RECIPE_EPOCHS:-24}
# The `fast` preset on native features; the U-Net outputs softmax ratio masks on mel power, trained by
# the magnitude-weighted share loss (λ 0.9) in each sample's best output order by that loss (`--pit`:
# +3.6 dB SI-SDRi on held-out A320U mixtures after 3 × 4,320 mixtures, against +1.3 dB after
# 2 × 8,640 in class order); the classifier is also trained on the reference sources (β 1); cosine
# schedule. bf16 by measurement: the trainer times bf16 autocast against float32 for this model and
# batch here and takes bf16 only where it is ≥ 1.1× faster (without native bf16 it is ~12× slower).
# See docs/quality.md for what each choice measured.
RECIPE_TRAIN_FLAGS=${RECIPE_TRAIN_FLAGS:---preset fast --features native --unet-output ratio --separation-loss shares --pit --loss-weight 0.9 --reference-weight 1 --schedule cosine --lr 0.003 --batch-size 32 --bf16 auto --seed 0}

# recipe_synth <raw_data>: the clip library (4-s clips on 2 cores: ~3 min for 800 per class, ~8 for
# 2,400, ~15 for 4,800).
recipe_synth() {
  stemscope synth --out "$1" --per-class "$RECIPE_PER_CLASS" --seconds "$RECIPE_SECONDS" --seed 0
}

# recipe_train <raw_data> <run> [more train flags…]: mixtures drawn afresh from the library.
recipe_train() {
  local raw=$1 run=$2
  shift 2
  # shellcheck disable=SC2086
  stemscope train --data "$raw" --out "$run" --mixtures "$RECIPE_MIXTURES" --epochs "$RECIPE_EPOCHS" \
    $RECIPE_TRAIN_FLAGS "$@"
}

# recipe_test_mix <raw_data> <out> <per combination> [more mix flags…]: mixtures whose split.json test
# side is made of the clips training held back (the same seed and fraction as training's clip split).
recipe_test_mix() {
  local raw=$1 out=$2 per=$3
  shift 3
  stemscope mix --data "$raw" --out "$out" --split-by clip --test-fraction 0.2 \
    --samples-per-combination "$per" --seed 0 --quiet "$@"
}
