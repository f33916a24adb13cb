#!/usr/bin/env bash
# The recipe with one source group held out (A320U), as the model issue measured it: one fold of
# scripts/eval-generalisation.sh, two-instrument mixtures.
#   bash scripts/train-heldout.sh [work folder, default /tmp/stemscope-logo]
set -euo pipefail
cd "$(dirname "$0")/.."
HELD_OUT=${HELD_OUT:-a320u} SOURCES=${SOURCES:-2} exec bash scripts/eval-generalisation.sh "$@"
