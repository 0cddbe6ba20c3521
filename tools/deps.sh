#!/usr/bin/env bash
# Installs the Debian packages tgraph needs, only those missing (idempotent). Needs root or sudo.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc libfftw3-dev libblis-dev libgraphviz-dev libcriterion-dev libzip-dev
      graphviz gnuplot-nox libopenmpi-dev openmpi-bin)
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tgraph: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
