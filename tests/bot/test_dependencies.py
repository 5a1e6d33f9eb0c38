"""What a handler asks for by naming a parameter reaches it, on every kind of update (HandlerData)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.dispatcher.router import INTERNAL_UPDATE_TYPES
from aiogram.types import CallbackQuery, PreCheckoutQuery, Update
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot.data import HandlerData
from tests.support.connections import CountingConnections
from tests.support.fakes import RecordingSession
from tests.support.updates import CallbackQueryFactory, PreCheckoutQueryFactory, UpdateFactory


def every_handler(router: Router) -> list[tuple[str, Any]]:
    """(event type, callback) of every handler registered on `router` and its sub-routers."""
    return [
        (name, handler.callback)
        for each in router.chain_tail
        for name, observer in each.observers.items()
        if name not in INTERNAL_UPDATE_TYPES
        for handler in observer.handlers
    ]


def test_every_built_handler_asks_only_for_what_the_handler_data_holds(dispatcher: Dispatcher) -> None:
    handlers = every_handler(dispatcher)
    assert handlers
    for event_type, callback in handlers:
        # The first parameter is the event itself; the others are looked up by name in the handler data.
        _event, *wanted = inspect.signature(callback).parameters
        assert set(wanted) <= set(HandlerData.__annotations__), (event_type, callback.__qualname__)


async def test_a_callback_query_handler_gets_a_connection(
    dispatcher: Dispatcher,
    bot: Bot,
    session: RecordingSession,
    connections: CountingConnections,
    connection: AsyncConnection,
) -> None:
    given: list[AsyncConnection] = []
    buttons = Router(name="buttons")

    @buttons.callback_query()
    async def pressed(query: CallbackQuery, connection: AsyncConnection) -> None:
        given.append(connection)
        await query.answer("noted")

    dispatcher.include_router(buttons)
    await dispatcher.feed_update(
        bot, UpdateFactory.build(message=None, callback_query=CallbackQueryFactory.build())
    )

    assert given == [connection]
    assert connections.opened == 1
    assert session.methods() == ["answerCallbackQuery"]


@pytest.mark.usefixtures("connection")
async def test_a_pre_checkout_query_handler_gets_a_connection_only_when_it_asks(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connections: CountingConnections
) -> None:
    payments = Router(name="payments")
    asked: list[str] = []

    @payments.pre_checkout_query()
    async def confirm(query: PreCheckoutQuery, connection: AsyncConnection) -> None:
        asked.append((await connection.exec_driver_sql("SELECT 'stored'")).scalar_one())
        await query.answer(ok=True)

    dispatcher.include_router(payments)
    checkout = PreCheckoutQueryFactory.build()
    await dispatcher.feed_update(bot, UpdateFactory.build(message=None, pre_checkout_query=checkout))

    assert asked == ["stored"]
    assert (connections.opened, session.methods()) == (1, ["answerPreCheckoutQuery"])


async def test_a_handler_that_does_not_ask_gets_no_connection(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connections: CountingConnections
) -> None:
    buttons = Router(name="buttons")

    @buttons.callback_query()
    async def pressed(query: CallbackQuery, event_update: Update) -> None:
        await query.answer(str(event_update.update_id))

    dispatcher.include_router(buttons)
    update = UpdateFactory.build(message=None, callback_query=CallbackQueryFactory.build())
    await dispatcher.feed_update(bot, update)

    assert connections.opened == 0
    assert session.methods() == ["answerCallbackQuery"]
