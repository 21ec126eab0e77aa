#!/usr/bin/env bash
# Start the etcd a lab across machines keeps its state in (docs/two-machines.md), on this
# machine's ADDRESS, port 2379, its data under /run/netlab-etcd (gone at reboot, like the lab).
#   sudo scripts/etcd-for-lab.sh 192.168.56.10
# Stop it with: sudo pkill -f 'etcd --name netlab'
set -euo pipefail
address="${1:?usage: scripts/etcd-for-lab.sh ADDRESS (this machine's, the one the other hosts reach)}"
command -v etcd >/dev/null || { echo "no etcd: run scripts/setup.sh first (it installs etcd-server)" >&2; exit 1; }
mkdir -p /run/netlab-etcd
# a big lab's state is megabytes (etcd's default request limit is 1.5 MiB), and every save is a
# revision etcd keeps until compacted
nohup etcd --name netlab --data-dir /run/netlab-etcd/data \
  --max-request-bytes 33554432 --auto-compaction-mode periodic --auto-compaction-retention 5m \
  --listen-client-urls "http://$address:2379" --advertise-client-urls "http://$address:2379" \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster netlab=http://127.0.0.1:2380 > /run/netlab-etcd/etcd.log 2>&1 &
for _ in $(seq 50); do
  if curl -s -m 1 "http://$address:2379/health" | grep -q '"health":"true"'; then
    echo "etcd answers at http://$address:2379 (log: /run/netlab-etcd/etcd.log)"
    exit 0
  fi
  sleep 0.2
done
echo "etcd did not answer at http://$address:2379: see /run/netlab-etcd/etcd.log" >&2
exit 1
