"""`python -m benchmarks.load SPEC.json`: the HTTP load generator, run as a process of its own.

SPEC holds the webhook URL, the headers (the secret's among them), how many requests to keep in flight and
the bodies. It POSTs every body once and prints one JSON line: when it started and finished
(time.monotonic(), which is system-wide on Linux), how many answers each status got, and the text of each
sendMessage a webhook answer carried (a bot may reply in the answer itself, as Telegram allows).

With `"redeliver": true` it behaves as Telegram does with a webhook: a body not answered 2xx (another status,
no answer within DELIVERY_TIMEOUT_SECONDS, a broken connection) is delivered again after a pause, until it
is, at most MAX_DELIVERIES times; the line then also says how many deliveries were made.
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


DELIVERY_TIMEOUT_SECONDS = 60.0
REDELIVERY_PAUSE_SECONDS = 1.0
MAX_DELIVERIES = 30


async def deliver_until_acknowledged(
    url: str, headers: dict[str, str], bodies: list[str], concurrency: int
) -> dict[str, Any]:
    """POST every body until it is answered 2xx, as Telegram redelivers a webhook's updates."""
    statuses: Counter[str] = Counter()
    queue: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait((body, 1))
    unacknowledged = len(bodies)
    given_up = deliveries = 0
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS)

    def settled() -> None:
        nonlocal unacknowledged
        unacknowledged -= 1
        if unacknowledged == 0:
            for _ in range(concurrency):
                queue.put_nowait(None)  # every worker stops

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal given_up, deliveries
        while (item := await queue.get()) is not None:
            body, delivery = item
            deliveries += 1
            try:
                async with http.post(url, data=body.encode(), headers=headers, timeout=timeout) as response:
                    await response.read()
                    outcome = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as error:
                outcome = type(error).__name__
            statuses[outcome] += 1
            if outcome.startswith("2"):
                settled()
            elif delivery >= MAX_DELIVERIES:
                given_up += 1
                settled()
            else:
                loop.call_later(REDELIVERY_PAUSE_SECONDS, queue.put_nowait, (body, delivery + 1))

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker(http))
        finished = time.monotonic()
    return {
        "started": started,
        "finished": finished,
        "statuses": dict(statuses),
        "replies": [],
        "deliveries": deliveries,
        "given_up": given_up,
    }


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
    post = deliver_until_acknowledged if spec.get("redeliver") else post_all
    result = asyncio.run(post(spec["url"], spec["headers"], spec["bodies"], spec["concurrency"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
