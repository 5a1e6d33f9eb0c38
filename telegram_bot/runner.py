"""The bot's lifecycles: start-up checks, polling or webhook, and a graceful stop on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from aiogram import Bot, Dispatcher
from aiogram.exceptions import AiogramError, TelegramUnauthorizedError
from aiogram.utils.i18n import I18n
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from telegram_bot.bot.dispatcher import build_bot, build_dispatcher
from telegram_bot.bot.i18n import build_i18n, register_commands
from telegram_bot.bot.middlewares import InFlightMiddleware
from telegram_bot.collector import serving_collector
from telegram_bot.config import Settings
from telegram_bot.db import metadata
from telegram_bot.db.engine import (
    autocommit,
    create_engine,
    describe_database_error,
    is_database_unavailable,
)
from telegram_bot.db.schema import schema_status
from telegram_bot.log import get_logger
from telegram_bot.loop import loop_name
from telegram_bot.web import build_web_app
from telegram_bot.webhook import WebhookRegistration, WebhookWatch, polling_refusal

log = get_logger(__name__)

# How long in-flight updates may take to finish once a stop was asked for.
SHUTDOWN_GRACE_SECONDS = 20.0
MAX_BACKOFF_SECONDS = 5.0
# Updates polling handles at once, as a webhook's max_connections bounds them. Polling fetches no more while
# they wait, so that a reply's wait for its turn under Telegram's flood limits stays short (and bounded).
POLLING_CONCURRENCY = 40


class StartupError(Exception):
    """The bot cannot start; the message says why and what to do."""


async def wait_for_database(engine: AsyncEngine, within: float) -> None:
    """Connect, retrying with growing pauses while PostgreSQL is unreachable, for at most `within` seconds.

    A refusal that waiting cannot fix (a wrong password, an unknown database) fails at once.
    """
    deadline = time.monotonic() + within
    pause = 0.25
    while True:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - sorted just below
            if not is_database_unavailable(error):
                raise StartupError(
                    f"PostgreSQL refused the connection: {describe_database_error(error)}"
                ) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = describe_database_error(error)
                raise StartupError(
                    f"PostgreSQL did not answer within {within:g} s (last error: {last}); "
                    "check DATABASE_URL and that the server is running"
                ) from None
            log.warning(
                "database not reachable yet; retrying",
                error=describe_database_error(error),
                retry_in=round(pause, 2),
            )
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, MAX_BACKOFF_SECONDS)
        else:
            return


async def check_schema(engine: AsyncEngine) -> None:
    status = await schema_status(engine, metadata)
    if not status.is_usable:
        raise StartupError(status.describe())
    if status.is_ahead:
        # A newer release migrated the database: its deploy is under way or failed, or this is a rollback.
        log.warning(
            "schema ahead of this code, and compatible with it", revision=status.current, head=status.head
        )


@asynccontextmanager
async def telegram_set_up() -> AsyncIterator[None]:
    """Turn a refusal of the start-up calls (a wrong token, an unreachable API) into a StartupError."""
    try:
        yield
    except TelegramUnauthorizedError:
        raise StartupError(
            "Telegram rejected TELEGRAM_TOKEN (401 Unauthorized): check it with @BotFather"
        ) from None
    except AiogramError as error:  # the API's own errors, the network's, and answers that are not JSON
        raise StartupError(
            f"the Bot API did not accept the bot's set-up: {type(error).__name__}: {error}"
        ) from None


@asynccontextmanager
async def stop_signal() -> AsyncIterator[asyncio.Event]:
    """An event set by the first SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        yield stop
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def unless_stopped(stop: asyncio.Event, work: Awaitable[object]) -> bool:
    """Do `work` unless a stop comes first, which cancels it: whether it was done.

    Start-up can take as long as DATABASE_WAIT_SECONDS, as long as Railway lets a stopped deployment drain: a
    stop meanwhile must end it at once, not after it.
    """
    working = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not working.done():
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)  # let it unwind
    if working.cancelled():
        return False
    working.result()  # its failure, if it failed
    return True


async def prepare_polling(bot: Bot, i18n: I18n, *, take_over_webhook: bool) -> None:
    """Refuse to poll while a webhook is set, unless told to take it over; then register the commands.

    Telegram answers getUpdates with 409 Conflict while a webhook is set, and deleting it to poll leaves the
    bot that set it (production, most likely) receiving nothing, with no log line saying so.
    """
    webhook = await bot.get_webhook_info()
    if webhook.url and not take_over_webhook:
        raise StartupError(polling_refusal(webhook.url))
    if webhook.url:
        log.warning(
            "taking the webhook over, as --take-over-webhook asks: it receives nothing now", url=webhook.url
        )
        await bot.delete_webhook(drop_pending_updates=False)
    await register_commands(bot, i18n)


async def serve_polling(
    bot: Bot, dispatcher: Dispatcher, i18n: I18n, stop: asyncio.Event, *, take_over_webhook: bool
) -> None:
    in_flight = InFlightMiddleware()
    dispatcher.update.outer_middleware(in_flight)
    async with telegram_set_up():
        if not await unless_stopped(stop, prepare_polling(bot, i18n, take_over_webhook=take_over_webhook)):
            return
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=dispatcher.resolve_used_update_types(),
            tasks_concurrency_limit=POLLING_CONCURRENCY,
        )
    )
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if polling.done():
        stopped.cancel()
        await polling  # polling ended on its own: surface why
        return
    log.info("stopping: no new updates; waiting for those in flight", in_flight=in_flight.count)
    await dispatcher.stop_polling()
    await polling
    try:
        async with asyncio.timeout(SHUTDOWN_GRACE_SECONDS):
            await in_flight.wait_idle()
    except TimeoutError:
        log.warning("stopped with updates still in flight", in_flight=in_flight.count)


async def serve_webhook(
    settings: Settings,
    bot: Bot,
    dispatcher: Dispatcher,
    i18n: I18n,
    engine: AsyncEngine,
    stop: asyncio.Event,
) -> None:
    assert settings.webhook_secret is not None  # noqa: S101 - Settings requires it in webhook mode
    assert settings.webhook_url is not None  # noqa: S101 - likewise
    secret = settings.webhook_secret.get_secret_value()
    app = build_web_app(
        dispatcher,
        bot,
        engine,
        webhook_path=settings.webhook_path,
        secret_token=secret,
        max_concurrent=settings.webhook_max_connections,
    )
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        log.info("listening", host=settings.host, port=settings.port, path=settings.webhook_path)
        registration = WebhookRegistration(
            url=settings.webhook_url,
            secret_token=secret,
            allowed_updates=dispatcher.resolve_used_update_types(),
            max_connections=settings.webhook_max_connections,
        )
        # After the server listens, so that Telegram's first delivery finds it.
        async with telegram_set_up():
            if not await unless_stopped(stop, register_webhook_and_commands(bot, registration, i18n)):
                return
        log.info("webhook registered", url=settings.webhook_url)
        async with WebhookWatch(bot, registration, settings.webhook_watch_seconds).running():
            await stop.wait()
        # The webhook stays registered: the deployment taking over uses the same one.
        log.info("stopping: closing the listener; waiting for requests in flight")
    finally:
        # Stops accepting, lets requests in flight finish within the grace period, then closes.
        await runner.cleanup()


async def register_webhook_and_commands(bot: Bot, registration: WebhookRegistration, i18n: I18n) -> None:
    await registration.register(bot)
    await register_commands(bot, i18n)


async def prepare_database(engine: AsyncEngine, within: float) -> None:
    await wait_for_database(engine, within)
    await check_schema(engine)


async def run(settings: Settings, *, take_over_webhook: bool = False) -> int:
    """Run the bot until SIGTERM or SIGINT. 0 after a clean stop, in start-up too; 1 if it cannot start."""
    engine = create_engine(settings.url)
    try:
        async with stop_signal() as stop:
            if not await unless_stopped(stop, prepare_database(engine, settings.database_wait_seconds)):
                log.info("stopped during start-up, before anything was registered")
                return 0
            bot = build_bot(settings)
            try:
                webhook = settings.bot_mode == "webhook"
                i18n = build_i18n(settings.default_locale)
                dispatcher = build_dispatcher(autocommit(engine).connect, redeliverable=webhook, i18n=i18n)
                log.info("starting", mode=settings.bot_mode, event_loop=loop_name())
                if webhook:
                    await serve_webhook(settings, bot, dispatcher, i18n, engine, stop)
                else:
                    with serving_collector():  # the webhook's app applies it itself
                        await serve_polling(bot, dispatcher, i18n, stop, take_over_webhook=take_over_webhook)
            finally:
                await bot.session.close()
    except StartupError as error:
        log.error("cannot start: %s", error)  # noqa: TRY400 - the message is the whole story
        return 1
    except Exception:
        # Logged, not printed by the interpreter: the log pipeline redacts secrets that exception texts carry
        # (aiogram's request URLs contain the token).
        log.exception("stopped on an error")
        return 1
    finally:
        await engine.dispose()
    log.info("stopped")
    return 0
