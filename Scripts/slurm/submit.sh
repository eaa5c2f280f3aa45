#!/usr/bin/env bash
# Submits a sharded diagnosis to Slurm: an array of SHARDS tasks, then the merge once they
# have all succeeded. Prints the two job ids.
#
#   Scripts/slurm/submit.sh CHECKPOINT "INPUT..." OUT_DIR [SHARDS] [extra sbatch options...]
#   e.g. Scripts/slurm/submit.sh run/best.safetensors /data/slides /data/pred 16 --partition=cpu
#
# EFFDX (default: effdx on the PATH of the compute nodes) and EFFDX_DIAGNOSE_FLAGS (extra
# diagnose flags, e.g. "--heatmaps /data/maps") are passed to the tasks.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Absolute paths: the tasks run in OUT_DIR (INPUT is split at spaces).
checkpoint=$(realpath "${1:?checkpoint}"); out=$(realpath -m "${3:?output folder}"); shards=${4:-4}
input=""; for i in ${2:?input files or folders}; do input+="$(realpath "$i") "; done
shift $(( $# < 4 ? $# : 4 ))
mkdir -p "$out"
export CHECKPOINT="$checkpoint" INPUT="$input" OUT_DIR="$out" EFFDX="${EFFDX:-effdx}" EFFDX_DIAGNOSE_FLAGS="${EFFDX_DIAGNOSE_FLAGS:-}"
array=$(sbatch --parsable --array=0-$((shards - 1)) --chdir="$out" --export=ALL "$@" "$here/diagnose-array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$array" --chdir="$out" --export=ALL "$@" "$here/merge.sbatch")
echo "array job $array ($shards tasks), merge job $merge: $out/predictions.csv when it ends"
