#!/usr/bin/env bash
# CPU frequency governor "performance" on every CPU: executors run flat out
# under load and idle between bursts; ondemand/powersave governors ramp the
# clock up only after a burst has begun, which shows up as latency. Where
# the driver has an energy/performance hint, that is set to performance too.
# VMs usually expose no cpufreq at all (nothing to do). Without --apply, prints.
#
#   tuning/governor.sh [--apply]
set -euo pipefail
files=(/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor)
if [ ! -e "${files[0]}" ]; then echo "no cpufreq here (VM or fixed clock): nothing to set"; exit 0; fi
for f in "${files[@]}"; do
  cpu=${f#/sys/devices/system/cpu/}; cpu=${cpu%%/*}
  have=$(cat "$f")
  if [ "${1:-}" = --apply ]; then
    [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
    echo performance > "$f"
    epp=${f%scaling_governor}energy_performance_preference
    [ -w "$epp" ] && echo performance > "$epp" || true
    echo "$cpu: $have -> performance"
  else
    echo "$cpu: $have (want performance)"
  fi
done
