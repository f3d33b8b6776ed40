# Python SDK 2.x (pip install "mcp>=2"): lists the tools, then calls one.
# usage: python python_sdk2.py [URL] [TOOL] [ARGUMENTS_JSON]
import asyncio, json, sys

from mcp import Client

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4444/mcp"

async def main():
    async with Client(url) as client:
        tools = (await client.list_tools()).tools
        print("tools:", ", ".join(t.name for t in tools))
        if len(sys.argv) > 2:
            result = await client.call_tool(sys.argv[2], json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}"))
            print("result:", result.content[0].text)

asyncio.run(main())
