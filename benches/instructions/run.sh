#!/bin/bash
# Instructions per forwarded tools/call, counted by callgrind (deterministic, unlike CPU time):
# runs the release gateway under valgrind in front of the fixture's HTTP server twice, with N1
# and N2 calls, and prints the difference per call. MODE `secured` turns on JWT authentication
# and two access rules (the token is minted by client.py).
#   cargo build --release --bins && benches/instructions/run.sh [plain|secured] [N1] [N2]
set -euo pipefail
MODE=${1:-plain}; N1=${2:-500}; N2=${3:-1500}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${MCPGW_BIN_DIR:-$HERE/../../target/release}
command -v valgrind >/dev/null || { echo "needs valgrind (apt install valgrind)" >&2; exit 1; }
count() {
  local n=$1 d port fx vg url
  d=$(mktemp -d); port=$((20000 + RANDOM % 20000))
  "$BIN/mcpgw-fixture" --http 127.0.0.1:0 --name instant > "$d/fx.out" 2>/dev/null &
  fx=$!
  for _ in $(seq 50); do grep -q listening "$d/fx.out" && break; sleep 0.1; done
  url=$(sed -n 's/listening on //p' "$d/fx.out" | head -1)
  printf "upstreams:\n  instant: { url: '%s' }\n" "$url" > "$d/g.yaml"
  if [ "$MODE" = secured ]; then
    printf "auth:\n  jwt:\n    issuers: [{ issuer: bench, audiences: [mcpgw-bench], secret: '\${BENCH_SECRET}' }]\naccess:\n  - allow: { groups: [bench], tools: ['*_echo'] }\n  - deny: { tools: ['*_delete'] }\n" >> "$d/g.yaml"
  fi
  BENCH_SECRET=benchmark-secret-of-at-least-32-bytes MCPGW_LOG=warn valgrind --tool=callgrind \
    --callgrind-out-file="$d/cg.out" "$BIN/mcpgw" serve -c "$d/g.yaml" --listen "127.0.0.1:$port" --threads 1 2>"$d/vg.err" &
  vg=$!
  for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$port/readyz")" = 200 ] && break; sleep 0.2; done
  python3 "$HERE/client.py" "$port" "$n" "$MODE" >&2
  kill -TERM "$vg"; wait "$vg" 2>/dev/null || true
  kill "$fx"
  grep -E "^summary" "$d/cg.out" | awk '{print $2}'
  rm -rf "$d"
}
a=$(count "$N1"); b=$(count "$N2")
echo "$MODE: $(( (b - a) / (N2 - N1) )) instructions per call"
