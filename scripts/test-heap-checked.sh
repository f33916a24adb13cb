#!/usr/bin/env bash
# Runs the engine, model and training tests under glibc's heap checks: libc_malloc_debug preloaded with
# glibc.malloc.check=3 (abort on any inconsistency it sees) and MALLOC_PERTURB_ (freed and fresh memory
# filled with junk, so a use-after-free reads garbage instead of stale values).
#   bash scripts/test-heap-checked.sh [default|caching] [test files…]
# default (the default here): libtorch's own allocator, so glibc sees every tensor buffer; caching: the
# addon's caching allocator, as users run it.
set -euo pipefail
cd "$(dirname "$0")/.."
allocator=${1:-default}
shift || true
files=("$@")
if ((${#files[@]} == 0)); then files=(test/engine-*.test.ts test/model.test.ts test/train.test.ts); fi
debug=/lib/x86_64-linux-gnu/libc_malloc_debug.so.0
if [[ ! -f $debug ]]; then
  echo "test-heap-checked: $debug not found (glibc ≥ 2.34 on x86-64 Debian/Ubuntu has it in libc6)" >&2
  exit 1
fi
echo "heap-checked run: allocator $allocator, ${#files[@]} test files"
LD_PRELOAD=$debug GLIBC_TUNABLES=glibc.malloc.check=3 MALLOC_PERTURB_=165 STEMSCOPE_ALLOCATOR=$allocator \
  node --import tsx --test --test-reporter=dot "${files[@]}"
