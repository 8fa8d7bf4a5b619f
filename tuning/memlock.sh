#!/usr/bin/env bash
# Lets the hydrant user lock enough memory for io_uring's registered buffers
# (see tuning/README.md). Takes effect at the next login; systemd units set
# LimitMEMLOCK= instead.
set -euo pipefail
user=${1:-*}
file=/etc/security/limits.d/hydrant.conf
if [ "$(id -u)" != 0 ]; then echo "run as root (writes $file)" >&2; exit 1; fi
cat > "$file" <<CONF
# hydrant: io_uring registered buffers are locked memory
$user  soft  memlock  unlimited
$user  hard  memlock  unlimited
CONF
echo "wrote $file; log in again, then 'ulimit -l' should print unlimited"
