# The load for run.sh: one session, then N tools/call back to back (with a minted HS256 token in `secured` mode).
import http.client, json, sys, time, hmac, hashlib, base64
port, n = int(sys.argv[1]), int(sys.argv[2])
secured = len(sys.argv) > 3 and sys.argv[3] == "secured"
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
c = http.client.HTTPConnection("127.0.0.1", port)
h = {"content-type": "application/json", "accept": "application/json, text/event-stream", "host": "127.0.0.1"}
if secured:
    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"iss": "bench", "aud": "mcpgw-bench", "sub": "bench", "groups": ["bench"], "iat": now, "exp": now + 3600}).encode())
    sig = b64(hmac.new(b"benchmark-secret-of-at-least-32-bytes", f"{head}.{claims}".encode(), hashlib.sha256).digest())
    h["authorization"] = f"Bearer {head}.{claims}.{sig}"
c.request("POST", "/mcp", json.dumps({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"cg","version":"1"}}}), h)
r = c.getresponse(); sid = r.getheader("mcp-session-id"); r.read()
h2 = dict(h, **{"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
body = json.dumps({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"instant_echo","arguments":{"text":"benchmark"}}})
ok = 0
for i in range(n):
    c.request("POST", "/mcp", body, h2); r = c.getresponse(); d = r.read()
    if b'"result"' in d: ok += 1
print(ok, "ok of", n, d[:200])
