#!/usr/bin/env bash
# Sets up stemscope on Debian/Ubuntu: system packages (libtorch, build tools, soundfonts, the Python
# reference stack used by golden-file scripts and benchmarks), then `npm ci`, which builds the native
# addon and compiles the TypeScript. Idempotent: re-running only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  # build the addon against Debian's libtorch (1.13, CPU, oneDNN)
  libtorch-dev g++ make python3
  # data-parallel training: the gloo headers that libtorch's c10d ProcessGroupGloo.hpp includes (the
  # same gloo commit, 5b14351, that Debian's libtorch is linked against), and `ip netns` for the
  # two-host test
  libgloo-dev iproute2
  # real sampled instruments for `stemscope synth`
  fluid-soundfont-gm musescore-general-soundfont timgm6mb-soundfont denemo-data
  # more recorded timbres for `stemscope synth`: a real pipe organ (WavPack samples, decoded by
  # wavpack's wvunpack) and Sonic Pi's guitar recordings
  grandorgue-demo sonic-pi-samples wavpack
  # reference implementations for golden files and benchmarks (never needed by the tests)
  python3-torch python3-torchvision python3-numpy python3-scipy python3-skimage
  # the web page's browser test (headless Chromium) and the ONNX export's full check (onnx.checker)
  chromium python3-onnx
  # encoders that make the audio readers' test files (truncated FLAC/MP3/Ogg) and bench:resample's inputs
  flac lame vorbis-tools opus-tools
  # speech for the "no instrument" test and scripts/calibrate-none.ts (non-music the model must not name)
  espeak-ng
)

if [[ -z "${LIBTORCH:-}" ]] && command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "setup: these Debian packages are missing: ${missing[*]}" >&2
      echo "setup: run this script as root (sudo bash scripts/setup.sh) or install them yourself." >&2
      exit 1
    fi
    echo "setup: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# node-gyp must build against the headers of the Node that runs us, never download them.
if [[ -z "${npm_config_nodedir:-}" ]]; then
  node_prefix=$(dirname "$(dirname "$(command -v node)")")
  if [[ -f "$node_prefix/include/node/node.h" ]]; then export npm_config_nodedir="$node_prefix"; fi
fi

npm ci --no-audit --no-fund
