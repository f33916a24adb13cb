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
  # bf16 only where the CPU computes it natively (the flags cpuHasNativeBf16 reads): emulated bf16
  # is ~12x slower than float32 (the trainer warns too). The shipped model was trained with bf16 on
  # such a CPU.
  local precision=()
  if grep -qwE 'avx512_bf16|amx_bf16|bf16' /proc/cpuinfo 2>/dev/null; then precision=(--bf16); fi
  stemscope train --data "$1" --out "$2" --preset fast --features native --unet-output mask \
    --loss-weight 0.9 --reference-weight 1 --schedule cosine --lr 0.003 --epochs 1 --batch-size 32 "${precision[@]}" \
    --seed 0
  stemscope eval --model "$2" --data "$1" --report "$2/report"
}
