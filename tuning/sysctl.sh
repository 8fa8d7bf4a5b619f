#!/usr/bin/env bash
# Installs tuning/sysctl.conf as /etc/sysctl.d/90-hydrant.conf and loads it
# (see the comments in sysctl.conf for why each value). Without --apply,
# prints the values that differ from the running kernel.
#
#   tuning/sysctl.sh [--apply]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --apply ]; then
  grep -E '^[a-z]' "$here/sysctl.conf" | while IFS='=' read -r key want; do
    key=$(echo $key); want=$(echo $want)
    have=$(sysctl -n "$key" 2>/dev/null | tr -s '[:space:]' ' ' | sed 's/ $//' || echo "?")
    [ "$have" = "$want" ] || echo "$key: $have -> $want"
  done
  echo "(run with --apply as root to install and load them)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "run as root" >&2; exit 1; fi
install -m 0644 "$here/sysctl.conf" /etc/sysctl.d/90-hydrant.conf
sysctl -q -p /etc/sysctl.d/90-hydrant.conf
echo "installed and loaded /etc/sysctl.d/90-hydrant.conf"
