#!/bin/bash
# Builds icp-audit, starts the sample world on loopback (DNS, HTTP, HTTPS), audits
# fixtures/sample/inventory.csv against it, and prints the report. Needs only cargo.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --quiet --bin icp-audit --example world
work=$(mktemp -d)
trap 'kill $world 2>/dev/null || true; rm -rf "$work"' EXIT
target/debug/examples/world fixtures/sample "$work/world.env" &
world=$!
for _ in $(seq 50); do [ -s "$work/world.env" ] && break; sleep 0.1; done
source "$work/world.env"
status=0
# shellcheck disable=SC2086
target/debug/icp-audit audit fixtures/sample/inventory.csv --out report.csv \
    --cloud-ranges fixtures/sample/cloud-ranges.txt --as-of 2026-12-03 --timeout 5 --no-registry \
    --allow-net 127.0.0.0/8 $WORLD_FLAGS "$@" || status=$?
echo "report.csv written (exit status $status: 0 no findings, 1 findings, 2 bad input)"
column -s, -t < <(cut -d, -f1,4,5,6 report.csv) 2>/dev/null || cut -d, -f1,4,5,6 report.csv
