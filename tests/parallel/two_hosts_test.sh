#!/usr/bin/env bash
# Two "hosts" on one machine: two network namespaces joined by a veth pair, each with its own
# address. mpirun, started in the first, launches rank 1 in the second through an rsh agent that
# enters that namespace where ssh would log in to a remote host, and the ranks talk over Open MPI's
# TCP transport only (no shared memory). The main job trains one epoch with --strategy ddp; the
# test checks that it succeeds, that the gradients crossed the veth link (its byte counters), and
# that the weights are bitwise those of the same run on one host (the average of two gradients
# does not depend on the wire that carried them).
# Exits 77 (CTest: skipped), saying why, without mpirun, the Fashion-MNIST files, root, or
# network namespaces.
set -euo pipefail
bin=$1
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
command -v mpirun >/dev/null || { echo "skipped: no mpirun"; exit 77; }
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "skipped: no Fashion-MNIST in $data"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "skipped: creating network namespaces needs root"; exit 77; }
ip=$(command -v ip || true)
[ -n "$ip" ] || { echo "skipped: no ip (iproute2)"; exit 77; }

# Names unique to this run, so that parallel runs of the test do not meet.
tag=$$
a=volt-a-$tag
b=volt-b-$tag
subnet=10.$((200 + tag % 50)).$((tag / 50 % 250)).
addr_a=${subnet}1
addr_b=${subnet}2
out=$(mktemp -d)
cleanup() {
  "$ip" netns pids "$a" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  "$ip" netns pids "$b" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  "$ip" netns del "$a" 2>/dev/null || true
  "$ip" netns del "$b" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

if ! "$ip" netns add "$a" 2>"$out/netns.err"; then
  echo "skipped: cannot create a network namespace: $(cat "$out/netns.err")"
  exit 77
fi
"$ip" netns add "$b"
"$ip" link add "va$tag" netns "$a" type veth peer name "vb$tag" netns "$b"
"$ip" -n "$a" addr add "$addr_a/24" dev "va$tag"
"$ip" -n "$b" addr add "$addr_b/24" dev "vb$tag"
for ns in "$a" "$b"; do
  "$ip" -n "$ns" link set lo up
done
"$ip" -n "$a" link set "va$tag" up
"$ip" -n "$b" link set "vb$tag" up

# The rsh agent: mpirun calls it as `agent HOST COMMAND...`, as it would call ssh; it runs the
# command in HOST's namespace through a shell, as sshd would.
cat >"$out/agent" <<EOF
#!/bin/sh
host=\$1
shift
case "\$host" in
  $addr_a) ns=$a ;;
  $addr_b) ns=$b ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec "$ip" netns exec "\$ns" /bin/sh -c "\$*"
EOF
chmod +x "$out/agent"
printf '%s slots=1\n%s slots=1\n' "$addr_a" "$addr_b" >"$out/hosts"

train=(--strategy ddp --epochs 1 --threads 1 --data "$data")
tcp=(--mca btl tcp,self --mca btl_tcp_if_include "${subnet}0/24" --mca oob_tcp_if_include "${subnet}0/24")
mpi=(mpirun --allow-run-as-root --mca mpi_yield_when_idle 1 --bind-to none -x VOLT_DISTRIBUTED_TIMEOUT=60)

rc=0
timeout 240 "$ip" netns exec "$a" "${mpi[@]}" "${tcp[@]}" --mca plm_rsh_agent "$out/agent" --hostfile "$out/hosts" \
  -np 2 "$bin" "${train[@]}" --out "$out/two" >"$out/two.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { echo "the two-host job failed (exit $rc; 124: a hang):"; cat "$out/two.log"; exit 1; }
grep -q "epoch 1/1" "$out/two.log" || { echo "the two-host job printed no epoch line:"; cat "$out/two.log"; exit 1; }

# Rank 1 ran in namespace b: the gradients of every step (79510 floats each way) came in there.
rx=$("$ip" netns exec "$b" cat "/sys/class/net/vb$tag/statistics/rx_bytes")
tx=$("$ip" netns exec "$b" cat "/sys/class/net/vb$tag/statistics/tx_bytes")
echo "two hosts: the veth link carried $rx bytes to rank 1's host and $tx bytes back"
[ "$rx" -gt 50000000 ] && [ "$tx" -gt 50000000 ] || { echo "too little traffic for 469 steps of gradients"; exit 1; }

# The same job on one host, over shared memory: the same weights, bit for bit.
timeout 240 "${mpi[@]}" --oversubscribe -np 2 "$bin" "${train[@]}" --out "$out/one" >"$out/one.log" 2>&1 ||
  { echo "the one-host job failed:"; cat "$out/one.log"; exit 1; }
cmp "$out/two/model.safetensors" "$out/one/model.safetensors" ||
  { echo "the two-host weights differ from the one-host weights"; exit 1; }
echo "two hosts: model.safetensors equals the one-host run's, byte for byte"
