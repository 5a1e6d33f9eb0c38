"""The webhook app over a real socket: secrets, hostile bodies, a real /start, health and readiness."""

from __future__ import annotations

import gc
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.bot.handlers import start
from telegram_bot.collector import YOUNG_GENERATION_THRESHOLD
from telegram_bot.db.schema import head_revision
from telegram_bot.web import MAX_BODY_BYTES, SECRET_HEADER, build_web_app
from tests.support.connections import CountingConnections
from tests.support.environment import TOKEN
from tests.support.fakes import RecordingSession
from tests.support.locales import said
from tests.support.process import update_json
from tests.support.readers import count_users

SECRET = "s3cret-Token_for-tests"
PATH = "/webhook"


async def start_client(
    bot: Bot, connections: CountingConnections, engine: AsyncEngine
) -> TestClient[Any, Any]:
    dispatcher = build_dispatcher(connections, redeliverable=True)
    app = build_web_app(dispatcher, bot, engine, webhook_path=PATH, secret_token=SECRET)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(
    shared_engine: AsyncEngine, connection: AsyncConnection
) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingSession, CountingConnections]]:
    session = RecordingSession()
    connections = CountingConnections(connection)
    test_client = await start_client(Bot(TOKEN, session=session), connections, shared_engine)
    yield test_client, session, connections
    await test_client.close()


async def test_a_valid_start_is_handled_before_the_answer(
    client: tuple[TestClient[Any, Any], RecordingSession, CountingConnections], connection: AsyncConnection
) -> None:
    http, session, _ = client
    update = update_json()

    response = await http.post(PATH, json=update, headers={SECRET_HEADER: SECRET})

    assert response.status == 200
    assert await count_users(connection) == 1
    assert session.sent() == [
        (update["message"]["chat"]["id"], said("en", start.welcome, update["message"]["from"]["first_name"]))
    ]


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}])
async def test_a_request_without_the_secret_is_refused_and_touches_nothing(
    client: tuple[TestClient[Any, Any], RecordingSession, CountingConnections],
    connection: AsyncConnection,
    headers: dict[str, str],
) -> None:
    http, session, connections = client

    response = await http.post(PATH, json=update_json(), headers=headers)

    assert response.status == 401
    assert (session.calls, connections.opened, await count_users(connection)) == ([], 0, 0)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe\x00garbage", 400),
        (b"[]", 400),
        (b'"a string"', 400),
        (b'{"update_id": "not a number"}', 400),
        (b'{"message": {"text": "/start"}}', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (b"x" * (MAX_BODY_BYTES + 1), 413),
    ],
    ids=["broken-json", "binary", "array", "string", "wrong-type", "no-update-id", "too-deep", "oversized"],
)
async def test_a_body_that_is_not_an_update_gets_a_4xx_and_touches_nothing(
    client: tuple[TestClient[Any, Any], RecordingSession, CountingConnections],
    connection: AsyncConnection,
    body: bytes,
    status: int,
) -> None:
    http, session, connections = client

    response = await http.post(
        PATH, data=io.BytesIO(body), headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    )

    assert response.status == status
    assert (session.calls, connections.opened, await count_users(connection)) == ([], 0, 0)
    # The server keeps serving.
    assert (await http.get("/healthz")).status == 200


async def test_health_is_ok_while_the_process_serves(
    client: tuple[TestClient[Any, Any], RecordingSession, CountingConnections],
) -> None:
    http, _, _ = client

    response = await http.get("/healthz")

    assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_ready_when_the_database_answers_at_the_head_revision(
    client: tuple[TestClient[Any, Any], RecordingSession, CountingConnections],
) -> None:
    http, _, _ = client

    response = await http.get("/readyz")

    body = await response.json()
    assert (response.status, body["status"]) == (200, "ready")
    assert body["revision"]


@pytest.mark.parametrize(
    ("database", "reason"),
    [
        ("empty", "schema at no revision, code expects"),
        ("unreachable", "database unreachable"),
    ],
)
async def test_not_ready_when_the_schema_is_behind_or_the_database_is_down(
    empty_database_url: URL, connection: AsyncConnection, database: str, reason: str
) -> None:
    url = empty_database_url if database == "empty" else empty_database_url.set(port=1)
    engine = create_async_engine(url, poolclass=NullPool)
    http = await start_client(Bot(TOKEN, session=RecordingSession()), CountingConnections(connection), engine)
    try:
        response = await http.get("/readyz")
        body = json.loads(await response.text())
    finally:
        await http.close()
        await engine.dispose()

    assert response.status == 503
    assert body["status"] == "unavailable"
    assert body["reason"].startswith(reason)


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ("ALTER TABLE users ADD COLUMN nickname text", 200, None),
        (
            "ALTER TABLE users RENAME COLUMN first_name TO given_name",
            503,
            "column users.first_name is missing",
        ),
    ],
    ids=["compatible", "incompatible"],
)
@pytest.mark.schema_state
async def test_a_schema_ahead_of_the_code_is_ready_only_while_it_serves_the_code(
    isolated_database_url: URL, connection: AsyncConnection, change: str, status: int, reason: str | None
) -> None:
    engine = create_async_engine(isolated_database_url, poolclass=NullPool)
    async with engine.begin() as migration:
        await migration.execute(text(change))
        await migration.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    http = await start_client(Bot(TOKEN, session=RecordingSession()), CountingConnections(connection), engine)
    try:
        response = await http.get("/readyz")
        body = await response.json()
    finally:
        await http.close()
        await engine.dispose()

    assert response.status == status
    if reason is None:
        assert body == {"status": "ready", "revision": "f00dfeedbeef", "head": head_revision()}
    else:
        assert body["status"] == "unavailable"
        assert reason in body["reason"]


@pytest.mark.parametrize(
    "update",
    [{"update_id": 900_000_001}, {"update_id": 900_000_002, "a_kind_from_the_future": {"x": 1}}],
    ids=["no-event", "unknown-kind"],
)
async def test_an_update_of_an_unknown_kind_is_acknowledged_and_ignored(
    client: tuple[TestClient[Any, Any], RecordingSession, CountingConnections], update: dict[str, Any]
) -> None:
    http, session, connections = client

    response = await http.post(PATH, json=update, headers={SECRET_HEADER: SECRET})

    assert response.status == 200
    assert (session.calls, connections.opened) == ([], 0)


async def test_a_second_delivery_of_an_update_is_acknowledged_not_handled_again(
    client: tuple[TestClient[Any, Any], RecordingSession, CountingConnections], connection: AsyncConnection
) -> None:
    http, session, _ = client
    update = update_json()

    statuses = [
        (await http.post(PATH, json=update, headers={SECRET_HEADER: SECRET})).status for _ in range(3)
    ]

    assert statuses == [200, 200, 200]
    assert len(session.sent()) == 1
    assert await count_users(connection) == 1


async def test_the_app_tunes_the_collector_while_it_serves_and_restores_it_after(
    shared_engine: AsyncEngine, connection: AsyncConnection
) -> None:
    before = gc.get_threshold()
    http = await start_client(
        Bot(TOKEN, session=RecordingSession()), CountingConnections(connection), shared_engine
    )

    serving = gc.get_threshold()
    await http.close()

    assert serving == (YOUNG_GENERATION_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before
