from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.db.engine import autocommit, create_engine
from telegram_bot.db.models import User
from telegram_bot.db.queries.users import Profile, get_user, register_user
from tests.db.conftest import CreateUser
from tests.support.readers import count_users


async def test_first_registration_creates_the_user(connection: AsyncConnection) -> None:
    profile = Profile(
        telegram_id=7_000_000_001,
        update_id=1,
        first_name="Ada",
        username="ada",
        last_name="Lovelace",
        language_code="en",
    )

    registration = await register_user(connection, profile)

    assert registration.is_new
    user = registration.user
    assert (user.telegram_id, user.first_name, user.username, user.last_name, user.language_code) == (
        7_000_000_001,
        "Ada",
        "ada",
        "Lovelace",
        "en",
    )
    assert user.id is not None
    assert user.created_at == user.updated_at
    assert await count_users(connection) == 1


async def test_returning_user_is_updated_in_place(
    connection: AsyncConnection, create_user: CreateUser
) -> None:
    existing = await create_user(
        telegram_id=7_000_000_002, first_name="Old", username="old", language_code="en"
    )

    registration = await register_user(
        connection,
        Profile(
            telegram_id=7_000_000_002,
            update_id=2,
            first_name="New",
            username="new",
            last_name="Name",
            language_code="de",
        ),
    )

    assert not registration.is_new
    user = registration.user
    assert user.id == existing.id
    assert user.created_at == existing.created_at
    assert (user.first_name, user.username, user.last_name, user.language_code) == (
        "New",
        "new",
        "Name",
        "de",
    )
    assert await count_users(connection) == 1


async def test_registration_is_idempotent(connection: AsyncConnection) -> None:
    profile = Profile(telegram_id=7_000_000_003, update_id=3, first_name="Same")

    first = await register_user(connection, profile)
    second = await register_user(connection, profile)

    assert (first.is_new, second.is_new) == (True, False)
    assert first.user.id == second.user.id
    assert await count_users(connection) == 1


async def test_optional_fields_may_be_missing_and_can_be_cleared(
    connection: AsyncConnection, create_user: CreateUser
) -> None:
    await create_user(telegram_id=7_000_000_004, username="had_one", last_name="Had", language_code="fr")

    registration = await register_user(
        connection, Profile(telegram_id=7_000_000_004, update_id=4, first_name="Bare")
    )

    user = registration.user
    assert (user.username, user.last_name, user.language_code) == (None, None, None)


async def test_unicode_and_emoji_names_round_trip(connection: AsyncConnection) -> None:
    profile = Profile(
        telegram_id=7_000_000_005,
        update_id=5,
        first_name="Zoë 🐍🔥",
        last_name="李小龍 \u200d👩‍👩‍👧",
        username="zoe_🌟",
        language_code="zh-hans",
    )

    await register_user(connection, profile)

    stored = (await connection.execute(select(User.first_name, User.last_name, User.username))).one()
    assert tuple(stored) == (profile.first_name, profile.last_name, profile.username)


async def test_concurrent_registrations_of_one_user_leave_one_row(isolated_database_url: URL) -> None:
    engine = autocommit(create_engine(isolated_database_url, pool_size=20, max_overflow=0))

    async def register(attempt: int) -> bool:
        async with engine.connect() as conn:
            profile = Profile(telegram_id=7_000_000_006, update_id=attempt, first_name=f"Attempt {attempt}")
            return (await register_user(conn, profile)).is_new

    try:
        outcomes = await asyncio.gather(*(register(attempt) for attempt in range(50)))
        async with engine.connect() as conn:
            rows = (await conn.execute(select(User.telegram_id, User.first_name))).all()
    finally:
        await engine.dispose()

    assert outcomes.count(True) == 1
    assert len(rows) == 1
    assert rows[0].telegram_id == 7_000_000_006
    # Whatever order they ran in, the profile is the one from the newest update.
    assert rows[0].first_name == "Attempt 49"


async def test_an_older_update_never_overwrites_a_newer_profile(connection: AsyncConnection) -> None:
    await register_user(connection, Profile(telegram_id=7_000_000_007, update_id=20, first_name="Newer"))

    late = await register_user(
        connection, Profile(telegram_id=7_000_000_007, update_id=10, first_name="Older")
    )

    assert not late.is_new
    assert (late.user.first_name, late.user.last_update_id) == ("Newer", 20)
    stored = (await connection.execute(select(User.first_name, User.last_update_id))).one()
    assert tuple(stored) == ("Newer", 20)


async def test_the_same_update_again_changes_nothing_but_is_answered(connection: AsyncConnection) -> None:
    profile = Profile(telegram_id=7_000_000_008, update_id=30, first_name="Once")
    await register_user(connection, profile)

    again = await register_user(connection, profile)

    assert (again.is_new, again.user.first_name, await count_users(connection)) == (False, "Once", 1)


async def test_get_user_reads_the_stored_row(connection: AsyncConnection, create_user: CreateUser) -> None:
    stored = await create_user(telegram_id=7_000_000_009, first_name="Ada", language_code="ru")

    user = await get_user(connection, 7_000_000_009)

    assert user is not None
    assert (user.id, user.first_name, user.language_code, user.created_at) == (
        stored.id,
        "Ada",
        "ru",
        stored.created_at,
    )


async def test_get_user_of_someone_never_registered_is_none(
    connection: AsyncConnection, create_user: CreateUser
) -> None:
    await create_user(telegram_id=7_000_000_010)

    assert await get_user(connection, 7_000_000_011) is None
