# Python SDK 1.x (pip install "mcp<2"): lists the tools, then calls one.
# usage: python python_sdk1.py [URL] [TOOL] [ARGUMENTS_JSON]
import asyncio, json, sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4444/mcp"

async def main():
    async with streamablehttp_client(url) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            print("tools:", ", ".join(t.name for t in tools))
            if len(sys.argv) > 2:
                result = await session.call_tool(sys.argv[2], json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}"))
                print("result:", result.content[0].text)

asyncio.run(main())
