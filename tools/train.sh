#!/usr/bin/env bash
# The main job: installs what is missing, builds, and trains the U-Net with GD and SIP on the
# seed's defaults (50 steps each, batch 128, 64x64, t*nu = 8). Arguments go to `tgraph train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
exec "${BUILD_DIR:-build}/tools/tgraph" train "$@"
