#!/bin/bash
# Feasibility probe for issue 4 (DNS >= 1.0x dnsmasq): how fast is a native responder
# that batches with recvmmsg/sendmmsg, against dnsmasq, on the same core, same names,
# same dnsperf load as bench/dns-throughput? Not product code; nothing loads it.
# Needs gcc, dnsperf, dnsmasq, taskset, bc. Usage: run.sh [rounds]
set -eu
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/mmsg-dns" "$src/mmsg-dns.c"
for i in $(seq 0 199); do
  ip="240.0.$((i / 250)).$((i % 250 + 1))"
  echo "svc-$i.mesh $ip" >> "$work/table.txt"
  echo "$ip svc-$i.mesh" >> "$work/hosts.txt"
  echo "svc-$i.mesh A" >> "$work/queries.txt"
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
for r in $(seq 1 "${1:-3}"); do
  for srv in mmsg dnsmasq; do
    port=$((20000 + RANDOM % 20000))
    if [ "$srv" = mmsg ]; then
      taskset -c 1 "$work/mmsg-dns" "$port" "$work/table.txt" & pid=$!
    else
      taskset -c 1 dnsmasq -k -p "$port" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
        --addn-hosts="$work/hosts.txt" --local=/mesh/ --cache-size=1000 -u root --pid-file= 2>/dev/null & pid=$!
    fi
    sleep 0.5
    taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l 1 -q 100 > /dev/null 2>&1
    c0=$(cpu "$pid")
    out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l 6 -q 100 2>&1)
    c1=$(cpu "$pid")
    qps=$(echo "$out" | awk '/Queries per second/{print $4}')
    completed=$(echo "$out" | awk '/Queries completed/{print $3}')
    echo "round $r $srv: $qps q/s, server CPU $(echo "($c1 - $c0) * 1000000 / $tck / $completed" | bc -l | cut -c1-5) us/query"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
