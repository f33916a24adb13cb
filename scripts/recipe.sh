# The data and training recipe shared by scripts/train-default.sh and scripts/train-heldout.sh
# (sourced, not run). Every random choice comes from the seeds here.
stemscope() { node --import tsx src/cli/main.ts "$@"; }

# recipe_synth <work>: 2,400 clips per default class from all four Debian soundfonts (~4 min).
recipe_synth() {
  stemscope synth --out "$1/raw_data" --per-class 2400 --seconds 2 --soundfonts all --seed 0
}

# recipe_mix <work> <out> <split flags…>: 600 mixtures per pair of classes (27,000) from
# <work>/raw_data into <out>, split as given.
recipe_mix() {
  local work=$1 out=$2
  shift 2
  stemscope mix --data-dir "$work/raw_data" --output-dir "$out" --samples-per-combination 600 --seed 0 "$@"
}

# recipe_train_eval <data> <run>: the `fast` preset for 1 epoch (~9 min on 2 cores), the classifier
# also trained on the reference sources (--reference-weight 1), the separation loss weighted 0.9
# (the U-Net then separates better: 0.571 vs 0.535 per-source accuracy at 0.7), then eval.
recipe_train_eval() {
  # bf16 by measurement: the trainer times bf16 autocast against float32 for this model and batch on
  # this machine and takes bf16 only where it is >= 1.1x faster (without native bf16 it is ~12x
  # slower; with avx512_bf16/AMX it was sometimes no faster). The shipped model was trained with bf16.
  stemscope train --data "$1" --out "$2" --preset fast --features native --unet-output mask \
    --loss-weight 0.9 --reference-weight 1 --schedule cosine --lr 0.003 --epochs 1 --batch-size 32 --bf16 auto \
    --seed 0
  stemscope eval --model "$2" --data "$1" --report "$2/report"
}
