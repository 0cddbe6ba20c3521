#!/usr/bin/env bash
# Configures (once) and builds tgraph in $BUILD_DIR (default: build). Extra meson options in $MESON_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" ${MESON_ARGS:-} >/dev/null
elif [ -n "${MESON_ARGS:-}" ]; then
  meson setup --reconfigure "$BUILD_DIR" ${MESON_ARGS} >/dev/null
fi
ninja -C "$BUILD_DIR" >/dev/null
