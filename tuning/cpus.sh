#!/usr/bin/env bash
# CPU isolation and pinning plan for this machine (see tuning/README.md):
# which CPUs run hydrant's executors, which keep the OS and NIC interrupts,
# and the kernel command line that keeps everything else off the executors.
# Without --apply it only prints the plan; --apply writes the kernel
# command line to /etc/default/grub.d/90-hydrant.cfg (then update-grub and
# reboot). hydrant pins its executors itself (--cores).
#
#   tuning/cpus.sh [--apply] [--housekeeping LIST]
set -euo pipefail
apply=; housekeeping=
while [ $# -gt 0 ]; do
  case $1 in
    --apply) apply=1; shift ;;
    --housekeeping) housekeeping=$2; shift 2 ;;
    *) echo "usage: $0 [--apply] [--housekeeping LIST]" >&2; exit 2 ;;
  esac
done
expand() { # "0-3,8" -> "0 1 2 3 8"
  local part out=()
  for part in ${1//,/ }; do
    if [[ $part == *-* ]]; then out+=($(seq "${part%-*}" "${part#*-}")); else out+=("$part"); fi
  done
  echo "${out[@]}"
}
online=$(expand "$(cat /sys/devices/system/cpu/online)")
count=$(echo $online | wc -w)
if [ -z "$housekeeping" ]; then
  # CPU 0 and its SMT siblings: the OS, interrupts, and whatever else runs here.
  housekeeping=$(cat /sys/devices/system/cpu/cpu0/topology/thread_siblings_list 2>/dev/null || echo 0)
fi
keep=" $(expand "$housekeeping") "
exec_cpus=()
for c in $online; do [[ $keep == *" $c "* ]] || exec_cpus+=("$c"); done
list=$(IFS=,; echo "${exec_cpus[*]}")
echo "CPUs online: $count ($(cat /sys/devices/system/cpu/online))"
if [ "$count" -le 2 ] || [ ${#exec_cpus[@]} -eq 0 ]; then
  echo "Too few CPUs to set any aside: run hydrant on all of them (--cores all) and skip isolation."
  exit 0
fi
echo "housekeeping (OS, IRQs, other daemons): $housekeeping"
echo "hydrant executors:                      $list"
echo
echo "  hydrant serve --cores $list"
smt=$(cat /sys/devices/system/cpu/smt/active 2>/dev/null || echo 0)
if [ "$smt" = 1 ]; then
  echo "  (SMT is on: two executors on sibling threads share one core's caches and ports;"
  echo "   for the most lines per executor use one thread per core, or turn SMT off)"
fi
cmdline="isolcpus=managed_irq,domain,$list nohz_full=$list rcu_nocbs=$list irqaffinity=$housekeeping"
echo
echo "kernel command line: $cmdline"
if [ -z "$apply" ]; then
  echo "(run with --apply as root to write /etc/default/grub.d/90-hydrant.cfg)"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "run as root" >&2; exit 1; fi
mkdir -p /etc/default/grub.d
echo "GRUB_CMDLINE_LINUX_DEFAULT=\"\$GRUB_CMDLINE_LINUX_DEFAULT $cmdline\"" > /etc/default/grub.d/90-hydrant.cfg
echo "wrote /etc/default/grub.d/90-hydrant.cfg; run update-grub and reboot"
