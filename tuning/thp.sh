#!/usr/bin/env bash
# Transparent huge pages: enabled=always, defrag=defer. hydrant's long-lived
# buffers (Arrow columns of the shards, per-core parse arenas reused by every
# request) are large and TLB-hungry, so huge pages help; "defer" means a page
# fault never stalls an executor on compaction (khugepaged collapses pages in
# the background instead). Not persistent across reboots: add
# transparent_hugepage=always to the kernel command line, or run this from
# the systemd unit (tuning/hydrant.service does). Without --apply, prints.
#
#   tuning/thp.sh [--apply]
set -euo pipefail
base=/sys/kernel/mm/transparent_hugepage
[ -d $base ] || { echo "this kernel has no transparent huge pages"; exit 0; }
current() { sed -n 's/.*\[\(.*\)\].*/\1/p' "$1"; }
echo "enabled: $(current $base/enabled) (want always); defrag: $(current $base/defrag) (want defer)"
if [ "${1:-}" = --apply ]; then
  [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
  echo always > $base/enabled
  echo defer > $base/defrag
  echo "set enabled=always defrag=defer"
fi
