#!/usr/bin/env bash
# Process limits for the user hydrant runs as (see tuning/README.md):
# locked memory for io_uring's registered buffers, and file descriptors
# (one per connection, WAL segment and open Parquet file). Takes effect at
# the next login; systemd units set LimitMEMLOCK=/LimitNOFILE= instead
# (tuning/hydrant.service). Without --apply, prints what it would write.
#
#   tuning/limits.sh [--apply] [user]
set -euo pipefail
apply=; [ "${1:-}" = --apply ] && { apply=1; shift; }
user=${1:-*}
file=/etc/security/limits.d/hydrant.conf
content="# hydrant: io_uring registered buffers are locked memory; one fd per connection
$user  soft  memlock  unlimited
$user  hard  memlock  unlimited
$user  soft  nofile   1048576
$user  hard  nofile   1048576"
if [ -z "$apply" ]; then
  echo "would write $file (run with --apply as root):"; echo "$content"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "run as root (writes $file)" >&2; exit 1; fi
echo "$content" > "$file"
echo "wrote $file; log in again, then 'ulimit -l' should print unlimited and 'ulimit -n' 1048576"
