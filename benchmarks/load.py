"""`python -m benchmarks.load SPEC.json`: the HTTP load generator, run as a process of its own.

SPEC holds the webhook URL, the headers (the secret's among them), how many requests to keep in flight and
the bodies. It POSTs every body once, as Telegram does, and prints one JSON line: when it started and finished
(time.monotonic(), which is system-wide on Linux), how many answers each status got, and the text of each
sendMessage a webhook answer carried (a bot may reply in the answer itself, as Telegram allows).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp


async def post_all(url: str, headers: dict[str, str], bodies: list[str], concurrency: int) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    replies: list[str] = []
    pending = iter(bodies)

    async def worker(http: aiohttp.ClientSession) -> None:
        for body in pending:
            try:
                async with http.post(url, data=body.encode(), headers=headers) as response:
                    if response.content_type.startswith("multipart/"):
                        method = await _fields(response)
                        if method.get("method") == "sendMessage":
                            replies.append(method.get("text", ""))
                    else:
                        await response.read()
                    statuses[str(response.status)] += 1
            except aiohttp.ClientError as error:
                statuses[type(error).__name__] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(bodies))):
                group.create_task(worker(http))
        finished = time.monotonic()
    return {"started": started, "finished": finished, "statuses": dict(statuses), "replies": replies}


async def _fields(response: aiohttp.ClientResponse) -> dict[str, str]:
    """The form fields of a multipart webhook answer: a Bot API method and its parameters."""
    fields: dict[str, str] = {}
    reader = aiohttp.MultipartReader.from_response(response)
    while (part := await reader.next()) is not None:
        if isinstance(part, aiohttp.BodyPartReader) and part.name is not None:
            fields[part.name] = await part.text()
    return fields


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(post_all(spec["url"], spec["headers"], spec["bodies"], spec["concurrency"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
