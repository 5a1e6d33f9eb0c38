"""factory-boy factories of the Telegram objects that arrive in updates: users, chats, messages, updates.

Apart from tests/support/factories.py (database rows), so that database tests do not import aiogram, whose
import alone takes seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import factory
from aiogram.types import CallbackQuery, Chat, Message, PreCheckoutQuery, Update
from aiogram.types import User as TelegramUser


class TelegramUserFactory(factory.Factory):  # type: ignore[misc]
    class Meta:
        model = TelegramUser

    id = factory.Sequence(lambda n: 20_000_000_000 + n)
    is_bot = False
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    username = factory.Sequence(lambda n: f"tg_user_{n}")
    language_code = "en"


class PrivateChatFactory(factory.Factory):  # type: ignore[misc]
    class Meta:
        model = Chat

    id = factory.Sequence(lambda n: 20_000_000_000 + n)
    type = "private"


class MessageFactory(factory.Factory):  # type: ignore[misc]
    class Meta:
        model = Message

    message_id = factory.Sequence(lambda n: n + 1)
    date = factory.LazyFunction(lambda: datetime.now(tz=UTC).replace(microsecond=0))
    from_user = factory.SubFactory(TelegramUserFactory)
    # A private chat's id is the user's id.
    chat = factory.LazyAttribute(lambda message: PrivateChatFactory.build(id=message.from_user.id))
    text = "/start"


class UpdateFactory(factory.Factory):  # type: ignore[misc]
    class Meta:
        model = Update

    update_id = factory.Sequence(lambda n: 500_000_000 + n)
    message = factory.SubFactory(MessageFactory)


class GroupChatFactory(factory.Factory):  # type: ignore[misc]
    class Meta:
        model = Chat

    id = factory.Sequence(lambda n: -1_000_000_000_000 - n)
    type = "supergroup"
    title = factory.Faker("company")


class CallbackQueryFactory(factory.Factory):  # type: ignore[misc]
    """A press on an inline button under one of the bot's messages."""

    class Meta:
        model = CallbackQuery

    id = factory.Sequence(str)
    from_user = factory.SubFactory(TelegramUserFactory)
    chat_instance = factory.Sequence(lambda n: f"instance-{n}")
    data = "pressed"


class PreCheckoutQueryFactory(factory.Factory):  # type: ignore[misc]
    """Telegram asking the bot to confirm an order before the payment goes through."""

    class Meta:
        model = PreCheckoutQuery

    id = factory.Sequence(str)
    from_user = factory.SubFactory(TelegramUserFactory)
    currency = "XTR"
    total_amount = 100
    invoice_payload = "order-1"
