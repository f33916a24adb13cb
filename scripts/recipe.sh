# The data and training recipe shared by scripts/train-default.sh and scripts/train-heldout.sh
# (sourced, not run). Every random choice comes from the seeds here.
stemscope() { node --import tsx src/cli/main.ts "$@"; }

# recipe_synth <work>: 1,200 clips per default class from all four Debian soundfonts.
recipe_synth() {
  stemscope synth --out "$1/raw_data" --per-class 1200 --seconds 2 --soundfonts all --seed 0
}

# recipe_train_eval <data> <run>: the `fast` preset for 4 epochs (~25 min on 2 cores), then eval.
recipe_train_eval() {
  stemscope train --data "$1" --out "$2" --preset fast --features native \
    --unet-output mask --schedule cosine --lr 0.003 --epochs 4 --batch-size 32 --bf16 --seed 0
  stemscope eval --model "$2" --data "$1" --report "$2/report"
}
