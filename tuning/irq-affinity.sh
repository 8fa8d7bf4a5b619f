#!/usr/bin/env bash
# NIC receive queues and their interrupts matched to hydrant's executors:
# one combined queue per executor, queue i's IRQ on executor CPU i, and
# transmit queue i (XPS) used by CPU i, so the kernel's network work for
# the node is spread evenly over the cores that parse it. irqbalance would
# undo this, so --apply stops it. Without --apply, prints the plan.
#
#   tuning/irq-affinity.sh IFACE --cores LIST [--apply]
set -euo pipefail
iface=; cores=; apply=
while [ $# -gt 0 ]; do
  case $1 in
    --cores) cores=$2; shift 2 ;;
    --apply) apply=1; shift ;;
    -*) echo "usage: $0 IFACE --cores LIST [--apply]" >&2; exit 2 ;;
    *) iface=$1; shift ;;
  esac
done
if [ -z "$iface" ] || [ -z "$cores" ]; then echo "usage: $0 IFACE --cores LIST [--apply]" >&2; exit 2; fi
[ -d "/sys/class/net/$iface" ] || { echo "no interface $iface" >&2; exit 1; }
expand() { local part out=(); for part in ${1//,/ }; do
  if [[ $part == *-* ]]; then out+=($(seq "${part%-*}" "${part#*-}")); else out+=("$part"); fi; done; echo "${out[@]}"; }
cpus=($(expand "$cores"))
n=${#cpus[@]}
run() { if [ -n "$apply" ]; then "$@"; else echo "  $*"; fi; }
write() { if [ -n "$apply" ]; then echo "$2" > "$1"; else echo "  echo $2 > $1"; fi; }
[ -n "$apply" ] && [ "$(id -u)" != 0 ] && { echo "run as root" >&2; exit 1; }
[ -z "$apply" ] && echo "plan for $iface with executors on CPUs ${cpus[*]} (--apply to do it):"

if command -v ethtool >/dev/null && ethtool -l "$iface" >/dev/null 2>&1; then
  run ethtool -L "$iface" combined "$n" || echo "  (the driver refused $n combined queues; keeping its own)"
else
  echo "  (ethtool cannot set channels on $iface: queue count stays as the driver set it)"
fi
if systemctl is-active --quiet irqbalance 2>/dev/null; then
  run systemctl disable --now irqbalance
fi
# The IRQs of the interface's queues, in queue order.
irqs=($(awk -v i="$iface" '$0 ~ i"[-_]" || $NF ~ "^"i"(-|$)" {sub(":","",$1); print $1}' /proc/interrupts))
if [ ${#irqs[@]} -eq 0 ] && [ -d "/sys/class/net/$iface/device/msi_irqs" ]; then
  irqs=($(ls "/sys/class/net/$iface/device/msi_irqs" | sort -n))
fi
if [ ${#irqs[@]} -eq 0 ]; then
  echo "  (no per-queue interrupts found for $iface: virtual or single-queue NIC)"
fi
for k in "${!irqs[@]}"; do
  write "/proc/irq/${irqs[$k]}/smp_affinity_list" "${cpus[$((k % n))]}"
done
k=0
for q in /sys/class/net/"$iface"/queues/tx-*; do
  [ -e "$q/xps_cpus" ] || continue
  printf -v mask '%x' $((1 << ${cpus[$((k % n))]}))
  write "$q/xps_cpus" "$mask"
  k=$((k + 1))
done
