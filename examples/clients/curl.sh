# Plain JSON-RPC over HTTP, no session: POST /rpc (or /servers/<name>/rpc).
# usage: sh curl.sh [BASE_URL] [TOOL] [ARGUMENTS_JSON]
base=${1:-http://127.0.0.1:4444}
args=${3:-'{}'}
curl -sS "$base/rpc" -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
echo
if [ -n "$2" ]; then
  curl -sS "$base/rpc" -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$args}}"
  echo
fi
