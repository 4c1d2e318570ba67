#!/usr/bin/env bash
# End-to-end demo on bundled inputs; writes everything under out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/demo
echo "demo: tools are being built; nothing to run yet"
