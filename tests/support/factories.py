"""factory-boy factories of database rows; those of Telegram's objects are in tests/support/updates.py.

The row factory only builds objects; `tests/db/conftest.py` persists them through the test's session, so no
factory holds a session of its own (factory-boy is synchronous, the session is not).
"""

from __future__ import annotations

import factory

from telegram_bot.db.models import User


class UserFactory(factory.alchemy.SQLAlchemyModelFactory):  # type: ignore[misc]
    class Meta:
        model = User
        sqlalchemy_session_persistence = None

    telegram_id = factory.Sequence(lambda n: 10_000_000_000 + n)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    username = factory.Sequence(lambda n: f"user_{n}")
    language_code = "en"
