"""Hostile input against the real webhook app, over a real socket, on a real migrated database.

The app is the one production serves (build_web_app around build_dispatcher and the autocommit engine), with a
Bot whose session records the methods called instead of calling Telegram, on 127.0.0.1. Whatever arrives:
- the answer is never a 5xx;
- the server keeps serving (/healthz answers 200 after every example);
- a refused request (4xx) leaves the database as it was and calls no Bot API method;
- a well-formed update is handled: one reply, and for /start one row.

The server, its database and its engine are module-scoped by design: hypothesis runs many examples in one test
call, and they all talk to the one server. Examples never collide: every generated update and user has ids of
its own, and the checks compare the state before and after each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import random
import re
import string
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
from aiogram import Bot
from aiogram.types import Update
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import AsyncEngine

from conftest import Server, unique_name
from telegram_bot.bot import errors
from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.bot.handlers import fallback, start
from telegram_bot.db.engine import autocommit, create_engine
from telegram_bot.web import MAX_BODY_BYTES, SECRET_HEADER, UpdateLedger, WebhookHandler, build_web_app
from tests.support.environment import TOKEN
from tests.support.fakes import RecordingSession
from tests.support.locales import said
from tests.support.process import update_json

SECRET = "faults-Secret_0123456789"
PATH = "/webhook"
AUTHORIZED = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
MiB = 1024 * 1024
ANSWER_WAIT_SECONDS = 2.0
# Ids no factory hands out, a fresh one per generated update or user.
_update_ids = itertools.count(700_000_000)
_user_ids = itertools.count(30_000_000_000)

# deadline=None: every example is a round trip over a socket, sometimes with a body near 1 MiB.
FAST = settings(max_examples=25, deadline=None)
FEW = settings(max_examples=10, deadline=None)
LARGE = settings(
    max_examples=6,
    deadline=None,
    # Huge bodies are the point of these tests, not a strategy gone astray.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# The server


@dataclass
class Served:
    """The webhook app on a socket, the Bot API methods it called, and its database."""

    http: TestClient[Any, Any]
    session: RecordingSession
    handler: WebhookHandler
    engine: AsyncEngine

    def __repr__(self) -> str:  # what a falsifying example prints
        return f"Served(http://127.0.0.1:{self.http.server.port}{PATH})"

    async def post(self, body: bytes, headers: Mapping[str, str] = AUTHORIZED) -> tuple[int, bytes]:
        # A stream, not bytes: aiohttp warns that a large bytes body would block the event loop.
        async with self.http.post(PATH, data=io.BytesIO(body), headers=dict(headers)) as response:
            return response.status, await response.read()

    async def post_json(self, payload: object, headers: Mapping[str, str] = AUTHORIZED) -> tuple[int, bytes]:
        return await self.post(json.dumps(payload).encode(), headers)

    async def raw(self, request: bytes) -> int | None:
        """Send bytes as they are: the status of the answer, None if there was none.

        The answer is read until the server closes the connection, or for at most ANSWER_WAIT_SECONDS: bytes
        that begin a request the server then waits to complete get no answer, and that is fine.
        """
        assert self.http.server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", self.http.server.port)
        answer = b""
        try:
            with contextlib.suppress(OSError):  # the server may close before reading everything
                writer.write(request)
                await writer.drain()
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(ANSWER_WAIT_SECONDS):
                    while chunk := await reader.read(65536):
                        answer += chunk
        finally:
            writer.close()
        matched = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
        return int(matched.group(1)) if matched else None

    async def database(self) -> tuple[int, str]:
        """The number of users and a digest of every row: the same before and after means untouched."""
        async with self.engine.connect() as connection:
            count, digest = (
                await connection.execute(
                    text(
                        "SELECT count(*), coalesce(md5(string_agg(u::text, '|' ORDER BY u.id)), '') "
                        "FROM users u"
                    )
                )
            ).one()
        return int(count), str(digest)

    async def first_names(self, telegram_id: int) -> list[str]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT first_name FROM users WHERE telegram_id = :id"), {"id": telegram_id}
            )
            return [str(name) for (name,) in rows]

    async def healthy(self) -> bool:
        async with self.http.get("/healthz") as response:
            return response.status == 200


def webhook_handler(app: web.Application) -> WebhookHandler:
    """The WebhookHandler build_web_app registered: the owner of the webhook route's bound method."""
    for route in app.router.routes():
        owner = getattr(route.handler, "__self__", None)
        if isinstance(owner, WebhookHandler):
            return owner
    raise LookupError("build_web_app registered no WebhookHandler")


async def serve(engine: AsyncEngine) -> Served:
    """The production assembly: the autocommit engine's connections, a Bot that records, a real socket."""
    # Unlimited: hypothesis sends many examples into the same few chats within a second, and what is under
    # test here is hostile input, not flood control (that is tests/bot/test_pacing.py's).
    session = RecordingSession(limits=None)
    dispatcher = build_dispatcher(autocommit(engine).connect, redeliverable=True)
    app = build_web_app(
        dispatcher, Bot(TOKEN, session=session), engine, webhook_path=PATH, secret_token=SECRET
    )
    http: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    return Served(http, session, webhook_handler(app), engine)


@pytest.fixture(scope="module")
def hostile_database_url(postgresql_server: Server, template_database: str) -> Iterator[URL]:
    """A migrated database of this module's own: a copy of the template, as isolated_database_url makes."""
    with postgresql_server.janitor(unique_name("tb_hostile"), template=template_database) as janitor:
        yield postgresql_server.url(janitor.dbname)


@pytest.fixture(scope="module")
async def engine(hostile_database_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(hostile_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def served(engine: AsyncEngine) -> AsyncIterator[Served]:
    served = await serve(engine)
    yield served
    await served.http.close()


# The properties every request must keep


@dataclass(frozen=True)
class Outcome:
    status: int
    body: bytes
    methods: list[str]
    database_changed: bool

    def __repr__(self) -> str:  # short: bodies can be large
        return f"Outcome({self.status}, {self.body[:80]!r}, {self.methods}, changed={self.database_changed})"


async def exchange(served: Served, send: Callable[[], Awaitable[tuple[int, bytes]]]) -> Outcome:
    """Send one request and check what must hold whatever it carried."""
    before, calls = await served.database(), len(served.session.calls)
    status, body = await send()
    outcome = Outcome(status, body, served.session.methods()[calls:], await served.database() != before)
    assert status < 500, outcome
    if 400 <= status < 500:
        assert (outcome.methods, outcome.database_changed) == ([], False), outcome
    assert await served.healthy()
    return outcome


async def refused(served: Served, body: bytes, headers: Mapping[str, str] = AUTHORIZED) -> int:
    return (await exchange(served, lambda: served.post(body, headers))).status


def fresh_update(text: str = "/start", first_name: str = "Ada", **sender: Any) -> dict[str, Any]:
    """A well-formed update, as Telegram sends it, with ids no other example uses."""
    user_id = next(_user_ids)
    update = update_json(text)
    update["update_id"] = next(_update_ids)
    update["message"]["from"] |= {"id": user_id, "first_name": first_name, **sender}
    update["message"]["chat"]["id"] = user_id
    return update


# Strategies

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
not_objects = json_scalars | st.lists(json_values, max_size=4)
letters = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
containers = st.lists(json_scalars, max_size=3) | st.dictionaries(
    st.text(max_size=5), json_scalars, max_size=3
)
# Values pydantic cannot turn into the field's type, not even in its lax mode ("12" is an int there).
WRONG_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "message_id": letters | containers | st.none() | st.just(1.5),
    "date": letters | containers | st.none(),
    "chat": letters
    | st.integers()
    | st.lists(json_scalars, max_size=3)
    | st.none()
    | st.just({})
    | st.fixed_dictionaries({"id": letters, "type": st.just("private")}),
    "from": letters | st.integers() | st.lists(json_scalars, max_size=3) | st.just({}),
    "text": st.integers() | st.booleans() | containers,
}
UPDATE_KEYS = set(Update.model_fields) | {
    field.alias for field in Update.model_fields.values() if field.alias
}
unknown_kinds = st.text(min_size=1, max_size=20).filter(lambda key: key not in UPDATE_KEYS)
visible_ascii = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
names = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=64
)


def nested(depth: int, shape: str) -> bytes:
    if shape == "lists":
        return b"[" * depth + b"]" * depth
    if shape == "objects":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if shape == "unclosed":
        return b"[" * depth
    # Deep inside what otherwise looks like an update.
    return b'{"update_id": 1, "message": ' + nested(depth, "objects") + b"}"


# Bodies that are not updates: 400, untouched


@FAST
@given(body=st.binary(max_size=4096))
async def test_random_bytes_are_refused(served: Served, body: bytes) -> None:
    assert await refused(served, body) == 400


@FAST
@given(payload=not_objects)
async def test_json_that_is_not_an_object_is_refused(served: Served, payload: object) -> None:
    assert await refused(served, json.dumps(payload).encode()) == 400


@FAST
@given(
    payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5).filter(
        lambda d: "update_id" not in d
    )
    | st.fixed_dictionaries(
        {"update_id": letters | containers | st.none() | st.just(2.5)}, optional={"message": json_values}
    )
)
async def test_objects_without_an_integer_update_id_are_refused(
    served: Served, payload: dict[str, Any]
) -> None:
    assert await refused(served, json.dumps(payload).encode()) == 400


@FAST
@given(
    wrong=st.sampled_from(sorted(WRONG_TYPES)).flatmap(
        lambda field: st.tuples(st.just(field), WRONG_TYPES[field])
    )
)
async def test_messages_with_fields_of_the_wrong_type_are_refused(
    served: Served, wrong: tuple[str, Any]
) -> None:
    field, value = wrong
    update = fresh_update()
    update["message"][field] = value

    assert await refused(served, json.dumps(update).encode()) == 400


@FAST
@given(message=letters | st.integers() | st.lists(json_scalars, max_size=3) | st.booleans())
async def test_a_message_that_is_not_an_object_is_refused(served: Served, message: object) -> None:
    assert (
        await refused(served, json.dumps({"update_id": next(_update_ids), "message": message}).encode())
        == 400
    )


@FAST
@given(missing=st.sets(st.sampled_from(["chat", "date", "message_id"]), min_size=1))
async def test_messages_missing_required_fields_are_refused(served: Served, missing: set[str]) -> None:
    update = fresh_update()
    for field in missing:
        del update["message"][field]

    assert await refused(served, json.dumps(update).encode()) == 400


@FEW
@given(
    depth=st.integers(10_000, 60_000), shape=st.sampled_from(["lists", "objects", "unclosed", "in-update"])
)
@example(depth=100_000, shape="lists")
async def test_deeply_nested_json_is_refused(served: Served, depth: int, shape: str) -> None:
    assert await refused(served, nested(depth, shape)) == 400


# Over the size limit: 413; near it: handled like any other body


@LARGE
@given(
    kind=st.sampled_from(["json-string", "over-limit", "unknown-kind", "long-text"]),
    slack=st.integers(0, 4096),
)
@example(kind="json-string", slack=0)  # exactly MAX_BODY_BYTES: within the limit
@example(kind="over-limit", slack=0)  # one byte over
async def test_huge_bodies_are_refused_over_the_limit_and_handled_under_it(
    served: Served, kind: str, slack: int
) -> None:
    if kind == "json-string":
        body = b'"' + b"x" * (MAX_BODY_BYTES - 2 - slack) + b'"'
    elif kind == "over-limit":
        body = b"x" * (MAX_BODY_BYTES + 1 + slack)
    elif kind == "unknown-kind":
        body = json.dumps(
            {"update_id": next(_update_ids), "novelty": "x" * (MAX_BODY_BYTES - 64 - slack)}
        ).encode()
    else:
        update = fresh_update()
        update["message"]["text"] = "x" * (MAX_BODY_BYTES - 2048 - slack)
        body = json.dumps(update).encode()
    assert len(body) <= MAX_BODY_BYTES or kind == "over-limit"

    outcome = await exchange(served, lambda: served.post(body))

    expected: dict[str, tuple[int, list[str]]] = {
        "json-string": (400, []),
        "over-limit": (413, []),
        "unknown-kind": (200, []),
    }
    assert (outcome.status, outcome.methods) == expected.get(kind, (200, ["sendMessage"]))
    assert not outcome.database_changed
    if kind == "long-text":
        assert served.session.sent_texts()[-1] == said("en", fallback.hint)


# Updates of a kind this aiogram does not know: acknowledged, ignored


@FAST
@given(update_id=st.integers(-(2**63), 2**63 - 1), kind=unknown_kinds, value=json_values)
async def test_unknown_kinds_are_acknowledged_and_touch_nothing(
    served: Served, update_id: int, kind: str, value: object
) -> None:
    outcome = await exchange(served, lambda: served.post_json({"update_id": update_id, kind: value}))

    assert (outcome.status, json.loads(outcome.body), outcome.methods) == (200, {}, [])
    assert not outcome.database_changed


@FEW
@given(depth=st.integers(1, 2_000), where=st.sampled_from(["unknown-kind", "message-field"]))
async def test_nesting_the_parser_accepts_never_breaks_the_server(
    served: Served, depth: int, where: str
) -> None:
    deep = "[" * depth + "]" * depth
    if where == "unknown-kind":
        body = f'{{"update_id": {next(_update_ids)}, "novelty": {deep}}}'
    else:
        update = fresh_update("hello")
        message = json.dumps(update["message"]).removesuffix("}") + f', "novelty": {deep}}}'
        body = json.dumps(update | {"message": "@"}).replace('"@"', message)

    outcome = await exchange(served, lambda: served.post(body.encode()))

    # Parsed (200, handled or ignored) or too deep for the parser (400): never a failure.
    assert outcome.status in (200, 400)
    if outcome.status == 200:
        assert outcome.methods == ([] if where == "unknown-kind" else ["sendMessage"])


# The secret


@FAST
@given(secret=st.none() | visible_ascii.filter(lambda value: value.strip() != SECRET))
@example(secret=None)
@example(secret="")
@example(secret=SECRET[:-1])
@example(secret=SECRET + "x")
@example(secret=SECRET.upper())
async def test_a_wrong_or_missing_secret_gets_401_and_touches_nothing(
    served: Served, secret: str | None
) -> None:
    headers = {"Content-Type": "application/json"} | ({} if secret is None else {SECRET_HEADER: secret})

    assert await refused(served, json.dumps(fresh_update()).encode(), headers) == 401


def request_with_secret(secret: bytes, body: bytes) -> bytes:
    return (
        b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + SECRET_HEADER.encode()
        + b": "
        + secret
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )


async def raw_exchange(served: Served, request: bytes) -> int | None:
    """Send raw bytes; check the same properties as `exchange`."""
    before, calls = await served.database(), len(served.session.calls)
    status = await served.raw(request)
    assert status is None or status < 500, status
    if status is not None and 400 <= status < 500:
        assert (served.session.methods()[calls:], await served.database()) == ([], before)
    assert await served.healthy()
    return status


@FAST
@given(secret=st.binary(max_size=64).filter(lambda value: b"\r" not in value and b"\n" not in value))
@example(secret=b"\xc3\xa9")
@example(secret=b"\xff")
async def test_any_bytes_in_the_secret_header_are_refused_never_a_server_error(
    served: Served, secret: bytes
) -> None:
    request = request_with_secret(secret, json.dumps(fresh_update()).encode())

    # 401 for a wrong secret, or 400 from the HTTP parser for bytes a header may not carry.
    assert await raw_exchange(served, request) in (400, 401)


@pytest.mark.parametrize(
    "secret",
    ["café".encode(), "café".encode("latin-1"), "секрет".encode()],
    ids=["utf-8", "latin-1", "cyrillic"],
)
async def test_a_secret_header_with_non_ascii_characters_gets_401(served: Served, secret: bytes) -> None:
    # A header value that is not ASCII is a wrong secret like any other. aiogram compares the secret with
    # secrets.compare_digest, which raises TypeError on non-ASCII str: unhandled, that answers 500.
    request = request_with_secret(secret, json.dumps(fresh_update()).encode())

    assert await raw_exchange(served, request) == 401


@FAST
@given(request=st.binary(min_size=1, max_size=512))
@example(request=b"POST /webhook HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n")
@example(request=b"POST /webhook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
@example(request=b"GET /healthz HTTP/1.0\r\n" + b"X-A: b\r\n" * 200 + b"\r\n")
async def test_random_bytes_on_the_socket_never_get_a_server_error(served: Served, request: bytes) -> None:
    await raw_exchange(served, request)


# Well-formed updates


@FAST
@given(
    first_name=names,
    last_name=st.none() | names,
    username=st.none() | st.from_regex(r"[a-z][a-z0-9_]{4,31}", fullmatch=True),
    language_code=st.none() | st.sampled_from(["en", "ru", "pt-br", "zz"]),
)
async def test_a_well_formed_start_registers_and_welcomes_once(
    served: Served, first_name: str, last_name: str | None, username: str | None, language_code: str | None
) -> None:
    optional = {"last_name": last_name, "username": username, "language_code": language_code}
    update = fresh_update(first_name=first_name, **{k: v for k, v in optional.items() if v is not None})
    user_id = update["message"]["from"]["id"]

    outcome = await exchange(served, lambda: served.post_json(update))

    assert (outcome.status, outcome.methods) == (200, ["sendMessage"])
    # Russian is the only other language the bot speaks; every other code gets the default, English.
    locale = "ru" if language_code == "ru" else "en"
    assert served.session.sent()[-1] == (user_id, said(locale, start.welcome, first_name))
    assert await served.first_names(user_id) == [first_name]


@FAST
@given(
    case=st.sampled_from(
        ["nul-in-name", "lone-surrogate", "user-id-beyond-int64", "update-id-beyond-int64", "huge-name"]
    ),
    filler=st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20),
)
async def test_well_formed_but_hostile_updates_never_break_the_server(
    served: Served, case: str, filler: str
) -> None:
    update = fresh_update(first_name=filler + "\x00" if case == "nul-in-name" else filler or "Ada")
    if case == "lone-surrogate":
        update["message"]["from"]["first_name"] = filler + "\ud800"
    elif case == "user-id-beyond-int64":
        update["message"]["from"]["id"] = update["message"]["chat"]["id"] = 2**64 + next(_user_ids)
    elif case == "update-id-beyond-int64":
        update["update_id"] = 2**64 + next(_update_ids)
    elif case == "huge-name":
        update["message"]["from"]["first_name"] = filler + "x" * 200_000

    outcome = await exchange(served, lambda: served.post_json(update))

    if case == "huge-name":  # nothing bounds a name but the body's size: registered like any other
        assert (outcome.status, outcome.methods, outcome.database_changed) == (200, ["sendMessage"], True)
        assert served.session.sent_texts()[-1] == said(
            "en", start.welcome, update["message"]["from"]["first_name"]
        )
    else:  # the database (or asyncpg, encoding it) refuses the value: logged, user told, acknowledged
        assert (outcome.status, outcome.methods, outcome.database_changed) == (200, ["sendMessage"], False)
        assert served.session.sent_texts()[-1] == said("en", errors.failed_text)
    # Whatever happened, the next update is served: no connection was left broken in the pool.
    clean = fresh_update(first_name="After")
    after = await exchange(served, lambda: served.post_json(clean))
    assert (after.status, after.methods) == (200, ["sendMessage"])
    assert await served.first_names(clean["message"]["from"]["id"]) == ["After"]


# Redeliveries


@pytest.mark.parametrize("delivery", ["sequential", "concurrent", "concurrent-then-sequential"])
async def test_a_redelivered_update_is_handled_once(served: Served, delivery: str) -> None:
    update = fresh_update()
    user_id = update["message"]["from"]["id"]
    calls = len(served.session.calls)

    async def deliver() -> int:
        return (await served.post_json(update))[0]

    statuses: list[int] = []
    if delivery == "sequential":
        statuses += [await deliver() for _ in range(5)]
    else:
        statuses += await asyncio.gather(*(deliver() for _ in range(8)))
    if delivery == "concurrent-then-sequential":
        statuses += [await deliver() for _ in range(3)]

    assert set(statuses) == {200}
    assert served.session.sent()[calls:] == [(user_id, said("en", start.welcome, "Ada"))]
    assert await served.first_names(user_id) == ["Ada"]
    assert await served.healthy()


# Memory and the ledger's bound


async def test_memory_and_the_ledger_stay_bounded_under_a_flood_of_hostile_requests(
    engine: AsyncEngine,
) -> None:
    served = await serve(engine)
    served.handler.ledger = UpdateLedger(capacity=100)
    rng = random.Random(20_240_601)
    huge = b'"' + b"x" * (MAX_BODY_BYTES - 2) + b'"'
    too_big = b"x" * (MAX_BODY_BYTES + 1)
    deep = nested(20_000, "lists")
    wrong_secret = {SECRET_HEADER: "wrong", "Content-Type": "application/json"}

    kinds: list[Callable[[int], Awaitable[tuple[int, bytes]]]] = [
        lambda _: served.post(rng.randbytes(rng.randrange(1, 2048))),
        lambda _: served.post(deep),
        lambda _: served.post(json.dumps(fresh_update()).encode(), wrong_secret),
        lambda _: served.post_json({"update_id": next(_update_ids), "novelty": rng.random()}),
        lambda _: served.post_json(fresh_update("/help")),  # handled: enters the ledger
        lambda _: served.post_json(fresh_update("/help")),
        lambda _: served.post_json({"update_id": "x", "message": [1, 2, 3]}),
        lambda i: served.post(huge if i % 16 == 7 else too_big),
    ]

    def hostile(i: int) -> Awaitable[tuple[int, bytes]]:
        return kinds[i % len(kinds)](i)

    async def flood(start: int, count: int, batch: int = 50) -> list[int]:
        statuses: list[int] = []
        for offset in range(start, start + count, batch):
            answers = await asyncio.gather(*(hostile(i) for i in range(offset, offset + batch)))
            statuses += [status for status, _ in answers]
            assert len(served.handler.ledger) <= 100
        return statuses

    process = psutil.Process()
    try:
        async with asyncio.timeout(90):
            await flood(0, 400)  # warm-up: caches, pools and allocator arenas reach their working size
            baseline = process.memory_info().rss
            statuses = await flood(400, 2_000)
            grown = process.memory_info().rss - baseline
    finally:
        await served.http.close()

    assert max(statuses) < 500
    assert {400, 401, 413, 200} <= set(statuses)
    assert len(served.handler.ledger) == 100
    assert grown < 64 * MiB, f"RSS grew by {grown / MiB:.1f} MiB"


async def handled() -> web.Response:
    return web.json_response({})


async def failed() -> web.Response:
    return web.json_response({}, status=503)


async def test_the_ledger_forgets_the_oldest_updates_beyond_its_capacity() -> None:
    ledger = UpdateLedger(capacity=100)
    calls: list[int] = []

    def handle(update_id: int) -> Callable[[], Awaitable[web.Response]]:
        async def run() -> web.Response:
            calls.append(update_id)
            return await handled()

        return run

    for update_id in range(1_000):
        await ledger.once(update_id, handle(update_id))
        assert len(ledger) <= 100
    for update_id in range(900, 1_000):  # the last 100 are remembered: acknowledged, not handled again
        assert (await ledger.once(update_id, handle(update_id))).status == 200
    await ledger.once(0, handle(0))  # forgotten long ago: handled again

    assert calls == [*range(1_000), 0]
    assert len(ledger) == 100


async def test_the_ledger_does_not_remember_a_failed_update() -> None:
    ledger = UpdateLedger(capacity=10)

    assert (await ledger.once(1, failed)).status == 503
    assert len(ledger) == 0
    assert (await ledger.once(1, handled)).status == 200
    assert len(ledger) == 1


@FAST
@given(capacity=st.integers(1, 20), deliveries=st.lists(st.integers(0, 40), max_size=200))
async def test_the_ledger_handles_an_update_again_only_once_it_forgot_it(
    capacity: int, deliveries: list[int]
) -> None:
    ledger = UpdateLedger(capacity=capacity)
    remembered: OrderedDict[int, None] = OrderedDict()  # the model: the last `capacity` handled ids
    handled_ids: list[int] = []

    for update_id in deliveries:

        async def handle(update_id: int = update_id) -> web.Response:
            handled_ids.append(update_id)
            return await handled()

        expected_handled = update_id not in remembered
        count = len(handled_ids)
        await ledger.once(update_id, handle)

        assert (len(handled_ids) == count + 1) == expected_handled
        if expected_handled:
            remembered[update_id] = None
            if len(remembered) > capacity:
                remembered.popitem(last=False)
        assert len(ledger) == len(remembered) <= capacity
