#!/usr/bin/env bash
# A real two-host data-parallel run on one machine: two network namespaces ("hosts") joined by a veth
# pair, each with its own address and nothing else, one `stemscope train` rank in each (rank 0 hosts
# the rendezvous at 10.$N.0.1). The same run then trains over loopback with --nproc 2, and the two
# runs must end with the same weights, byte for byte.
#
# Usage (root, or CAP_NET_ADMIN): bash scripts/two-host-netns.sh <train_data> <work dir> [train flags…]
#   default train flags: --preset tiny --epochs 2 --batch-size 3 --threads 1 --seed 3
# Exit codes: 0 same weights; 1 a run failed or the weights differ; 77 network namespaces cannot be
# created here (the caller may skip).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:?usage: two-host-netns.sh <train_data> <work dir> [train flags]}"
work="${2:?usage: two-host-netns.sh <train_data> <work dir> [train flags]}"
shift 2
flags=("$@")
((${#flags[@]})) || flags=(--preset tiny --epochs 2 --batch-size 3 --threads 1 --seed 3)
stemscope=(node --import tsx "$repo/src/cli/main.ts")
mkdir -p "$work"
rm -rf "$work/netns" "$work/loopback"

# Unique names, so concurrent runs do not collide; everything is removed on exit.
tag="ss$$"
subnet=$((($$ % 200) + 20))
host0="${tag}a" host1="${tag}b"
cleanup() {
  ip netns del "$host0" 2>/dev/null || true
  ip netns del "$host1" 2>/dev/null || true
}
trap cleanup EXIT
if ! ip netns add "$host0" 2>/dev/null; then
  echo "two-host-netns: cannot create network namespaces here (needs root or CAP_NET_ADMIN and iproute2)" >&2
  exit 77
fi
ip netns add "$host1"
ip link add "${tag}0" type veth peer name "${tag}1"
ip link set "${tag}0" netns "$host0"
ip link set "${tag}1" netns "$host1"
ip -n "$host0" addr add "10.$subnet.0.1/24" dev "${tag}0"
ip -n "$host1" addr add "10.$subnet.0.2/24" dev "${tag}1"
for h in "$host0" "$host1"; do
  ip -n "$h" link set lo up
done
ip -n "$host0" link set "${tag}0" up
ip -n "$host1" link set "${tag}1" up

echo "two-host-netns: rank 0 on $host0 (10.$subnet.0.1), rank 1 on $host1 (10.$subnet.0.2)"
common=(train --data "$data" --out "$work/netns" "${flags[@]}" --quiet --world-size 2
  --master-addr "10.$subnet.0.1" --master-port 29500 --dist-timeout 60)
ip netns exec "$host0" "${stemscope[@]}" "${common[@]}" --rank 0 >"$work/rank0.log" 2>&1 &
rank0=$!
ip netns exec "$host1" "${stemscope[@]}" "${common[@]}" --rank 1 >"$work/rank1.log" 2>&1 &
rank1=$!
status=0
wait "$rank0" || status=$?
wait "$rank1" || status=$?
sed 's/^/  rank 0: /' "$work/rank0.log"
sed 's/^/  rank 1: /' "$work/rank1.log"
if ((status != 0)); then
  echo "two-host-netns: the two-host run failed (exit $status)" >&2
  exit 1
fi
grep -q "trained on 2 ranks" "$work/rank0.log"

echo "two-host-netns: the same run over loopback (--nproc 2)"
"${stemscope[@]}" train --data "$data" --out "$work/loopback" "${flags[@]}" --quiet --nproc 2 >"$work/loopback.log" 2>&1 ||
  {
    cat "$work/loopback.log" >&2
    echo "two-host-netns: the loopback run failed" >&2
    exit 1
  }
if cmp -s "$work/netns/last.safetensors" "$work/loopback/last.safetensors"; then
  echo "two-host-netns: same weights over the veth pair and over loopback ($(sha256sum <"$work/netns/last.safetensors" | cut -c1-16))"
else
  echo "two-host-netns: the weights differ between the two-host and the loopback run" >&2
  exit 1
fi
