#!/usr/bin/env bash
# Runs a sharded diagnosis through a real Slurm on this machine: starts slurmctld and slurmd
# (Debian's slurm-wlm, auth/none, one node, as root) with a private configuration, submits the
# job array and its merge with submit.sh, waits for the merge and stops the daemons.
#
#   Scripts/slurm/test-local-cluster.sh EFFDX CHECKPOINT INPUT OUT_DIR SHARDS
#
# Exit 0 when the merge job completed; the merged predictions are OUT_DIR/predictions.csv.
# Used by Tests/EffDxCLITests/ShardingTests.swift; needs root and slurm-wlm.
set -euo pipefail
effdx=$(realpath "$1"); checkpoint=$2; input=$3; out=$4; shards=$5
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d /tmp/effdx-slurm-XXXXXX)
host=$(hostname)
port=$(( 20000 + RANDOM % 20000 ))
cat > "$work/slurm.conf" <<CONF
ClusterName=effdx-test
SlurmctldHost=$host(127.0.0.1)
# auth/none trusts anyone who reaches the ports: the daemons listen on loopback only.
CommunicationParameters=NoInAddrAny
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=effdx Nodes=$host Default=YES MaxTime=60 State=UP OverSubscribe=YES
CONF
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -f "$SLURM_CONF" > "$work/slurmctld.out" 2>&1 &
ctld=$!
slurmd -D -f "$SLURM_CONF" > "$work/slurmd.out" 2>&1 &
d=$!
cleanup() { kill "$d" "$ctld" 2>/dev/null || true; wait "$d" "$ctld" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 60); do
  if sinfo -h -o %t 2>/dev/null | grep -q idle; then break; fi
  sleep 0.5
done
sinfo -h -o %t | grep -q idle || { echo "slurmd never became idle" >&2; cat "$work"/*.out "$work"/*.log >&2 || true; exit 1; }
line=$(EFFDX="$effdx" EFFDX_DIAGNOSE_FLAGS="--threads 1" "$here/submit.sh" "$checkpoint" "$input" "$out" "$shards" --cpus-per-task=1)
echo "$line"
merge=$(echo "$line" | sed -E 's/.*merge job ([0-9]+).*/\1/')
for _ in $(seq 600); do
  info=$(scontrol show job "$merge" 2>/dev/null || true)
  state=$(echo "$info" | sed -nE 's/.*JobState=([A-Z_]+).*/\1/p')
  if echo "$info" | grep -q "Reason=DependencyNeverSatisfied"; then state=FAILED; fi
  case "$state" in
    COMPLETED) echo "merge job $merge completed"; exit 0 ;;
    FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|"") echo "merge job $merge: ${state:-gone}" >&2; cat "$out"/*.log >&2 2>/dev/null || true; exit 1 ;;
  esac
  sleep 0.5
done
echo "merge job $merge did not finish in 5 minutes" >&2
exit 1
