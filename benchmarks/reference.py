"""The reference: /start the way most aiogram templates write it, on this project's schema.

- a middleware on every update opens an SQLAlchemy AsyncSession (async_sessionmaker, expire_on_commit=False);
- the handler selects the user by Telegram id, adds a new User or changes the loaded one, and commits;
- it replies as the project's bot does (the same texts, localised by aiogram's own SimpleI18nMiddleware): both
  write the same rows and send the same replies;
- aiogram's default webhook handler serves it: SimpleRequestHandler(dispatcher, bot, secret_token=...), which
  answers 200 before handling (handle_in_background=True).
The engine is the project's own create_engine (the same pool size), so only the pattern differs, except for
the pool's timeout: SQLAlchemy's default, as the templates have it (reference_engine).

`python -m benchmarks.reference` runs it as a process of its own, as the templates do: aiohttp's web.run_app
on asyncio's own event loop, its replies sent by aiogram's default session to TELEGRAM_API_URL.
"""

from __future__ import annotations

import os
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import SimpleI18nMiddleware
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.workload import SECRET, WEBHOOK_PATH
from telegram_bot.bot import handlers
from telegram_bot.bot.handlers import help, start  # noqa: A004 - the module of /help
from telegram_bot.bot.i18n import build_i18n
from telegram_bot.bot.menu import Menu
from telegram_bot.bot.middlewares import Handler
from telegram_bot.config import parse_database_url
from telegram_bot.db.engine import create_engine
from telegram_bot.db.models import User
from telegram_bot.languages import SOURCE_LOCALE

# SQLAlchemy's default. The bot's own bound (POOL_TIMEOUT_SECONDS, 5 s) gives an update back for Telegram to
# deliver again; the reference, which answers 200 before handling and handles every update at once, would
# instead lose the updates queued longer than that behind its pool, and the run would measure its failures.
TEMPLATE_POOL_TIMEOUT_SECONDS = 30.0


def reference_engine(url: URL) -> AsyncEngine:
    return create_engine(url, pool_timeout=TEMPLATE_POOL_TIMEOUT_SECONDS)


class SessionMiddleware(BaseMiddleware):
    """A session for every update, whether its handler needs the database or not."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self._sessions() as session:
            data["session"] = session
            return await handler(event, data)


async def start_command(message: Message, session: AsyncSession) -> None:
    sender = message.from_user
    if sender is None:
        return
    user = await session.scalar(select(User).where(User.telegram_id == sender.id))
    if user is None:
        session.add(
            User(
                telegram_id=sender.id,
                first_name=sender.first_name,
                username=sender.username,
                last_name=sender.last_name,
                language_code=sender.language_code,
            )
        )
        reply = start.welcome(sender.first_name)
    else:
        user.first_name = sender.first_name
        user.username = sender.username
        user.last_name = sender.last_name
        user.language_code = sender.language_code
        reply = start.welcome_back(sender.first_name)
    await session.commit()
    await message.answer(reply)


async def help_command(message: Message, menu: Menu) -> None:
    await message.answer(help.help_text(menu))


def build_reference_dispatcher(engine: AsyncEngine) -> Dispatcher:
    dispatcher = Dispatcher(menu=handlers.menu())
    dispatcher.update.middleware(SessionMiddleware(async_sessionmaker(engine, expire_on_commit=False)))
    SimpleI18nMiddleware(build_i18n(SOURCE_LOCALE)).setup(dispatcher)
    router = Router(name="reference")
    router.message.register(start_command, CommandStart())
    router.message.register(help_command, Command("help"))
    dispatcher.include_router(router)
    return dispatcher


def build_reference_app(dispatcher: Dispatcher, bot: Bot) -> web.Application:
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=SECRET).register(app, path=WEBHOOK_PATH)
    return app


async def _ready(_request: web.Request) -> web.Response:
    """Only for the benchmark, to know when it listens: the pattern itself has no readiness check."""
    return web.json_response({"status": "ready"})


def main() -> None:
    """Serve the reference on PORT until SIGTERM, with the bot process's settings (benchmarks/process.py)."""
    engine = reference_engine(parse_database_url(os.environ["DATABASE_URL"]))
    api = TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"])
    bot = Bot(os.environ["TELEGRAM_TOKEN"], session=AiohttpSession(api=api))
    app = build_reference_app(build_reference_dispatcher(engine), bot)
    app.router.add_get("/readyz", _ready)

    async def close(_app: web.Application) -> None:
        await bot.session.close()
        await engine.dispose()

    app.on_cleanup.append(close)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), access_log=None, print=None)


if __name__ == "__main__":
    main()
