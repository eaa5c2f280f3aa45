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
# Absolute paths: the tasks run in OUT_DIR (INPUT is split at spaces, never globbed).
checkpoint=$(realpath "${1:?checkpoint}"); out=$(realpath -m "${3:?output folder}"); shards=${4:-4}
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "SHARDS must be a whole number from 1, not '$shards'" >&2; exit 2; }
read -r -a given <<< "${2:?input files or folders}"
input=""; for i in "${given[@]}"; do input+="$(realpath "$i") "; done
# Shards of an earlier job in the same folder would be merged with this one's (merge refuses).
if compgen -G "$out/pred_*.csv" >/dev/null; then echo "$out already holds pred_*.csv from an earlier job: choose an empty folder" >&2; exit 2; fi
shift $(( $# < 4 ? $# : 4 ))
mkdir -p "$out"
export CHECKPOINT="$checkpoint" INPUT="$input" OUT_DIR="$out" EFFDX="${EFFDX:-effdx}" EFFDX_DIAGNOSE_FLAGS="${EFFDX_DIAGNOSE_FLAGS:-}"
array=$(sbatch --parsable --array=0-$((shards - 1)) --chdir="$out" --export=ALL "$@" "$here/diagnose-array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$array" --chdir="$out" --export=ALL "$@" "$here/merge.sbatch")
echo "array job $array ($shards tasks), merge job $merge: $out/predictions.csv when it ends"
