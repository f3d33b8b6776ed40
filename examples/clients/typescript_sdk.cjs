// TypeScript SDK (npm install @modelcontextprotocol/sdk): lists the tools, then calls one.
// usage: node typescript_sdk.cjs [URL] [TOOL] [ARGUMENTS_JSON]
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [url = "http://127.0.0.1:4444/mcp", tool, args = "{}"] = process.argv.slice(2);

async function main() {
  const client = new Client({ name: "example", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const { tools } = await client.listTools();
  console.log("tools:", tools.map((t) => t.name).join(", "));
  if (tool) {
    const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
    console.log("result:", result.content[0].text);
  }
  await client.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
