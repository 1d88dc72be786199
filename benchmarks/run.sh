#!/usr/bin/env bash
# Measures headshot-mock against Prism and the raw-Starlette ceiling in one run, with the shared
# harness (../shared/bench: wrk pinned to core 1, the server to core 0, loopback only, bounded).
# Usage: benchmarks/run.sh            (ROUNDS=3 ONLY=... pass through to the harness)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
[ -x "$BENCH/run_anchors.sh" ] || { echo "benchmarks: $BENCH/run_anchors.sh not found (set BENCH=...)" >&2; exit 2; }
source scripts/_venv.sh
export OURS_NAME=headshot-mock OURS_PORT=4060 OURS_PATH=/modelslab/api/v6/image_editing/flux_headshot
export OURS_CMD="$PWD/$VENV/bin/headshot-mock serve --port {port}"
export ONLY=${ONLY:-headshot-mock,prism,starlette-raw-uvloop,starlette-jsonschema}
export ROUNDS=${ROUNDS:-1}
exec "$BENCH/run_anchors.sh"
