"""The statements on `users`, one function each, on a connection the caller provides."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.db.models import User

__all__ = ["Profile", "Registration", "get_user", "register_user"]


@dataclass(frozen=True, slots=True)
class Profile:
    """What Telegram told us about a person in one update."""

    telegram_id: int
    update_id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    user: User
    is_new: bool


_columns = User.__table__.columns
# xmax is 0 on a row version an INSERT wrote and set on one ON CONFLICT DO UPDATE wrote: PostgreSQL's own
# record of which branch ran, read in the same round trip.
_inserted = literal_column("xmax = 0", Boolean).label("is_new")
_profile_columns = ("last_update_id", "first_name", "username", "last_name", "language_code")

# Built once: building an upsert costs several times more than executing one, so each call only binds values.
_upsert = insert(User)
_REGISTER = _upsert.on_conflict_do_update(
    index_elements=[User.telegram_id],
    set_={**{name: _upsert.excluded[name] for name in _profile_columns}, "updated_at": func.now()},
    where=User.last_update_id <= _upsert.excluded.last_update_id,
).returning(*_columns, _inserted)
_STORED = select(*_columns).where(User.telegram_id == bindparam("telegram_id"))


async def get_user(connection: AsyncConnection, telegram_id: int) -> User | None:
    """The stored user with this Telegram id, or None if they never registered."""
    row = (await connection.execute(_STORED, {"telegram_id": telegram_id})).one_or_none()
    return None if row is None else User(**row._asdict())


async def register_user(connection: AsyncConnection, profile: Profile) -> Registration:
    """Create the user or bring their profile up to date: one idempotent statement, safe under concurrency.

    A profile from an update older than the one stored is not applied (updates can be handled out of order);
    the stored user is returned then, at the cost of a second statement.
    """
    values = {
        "telegram_id": profile.telegram_id,
        "last_update_id": profile.update_id,
        "first_name": profile.first_name,
        "username": profile.username,
        "last_name": profile.last_name,
        "language_code": profile.language_code,
    }
    row = (await connection.execute(_REGISTER, values)).one_or_none()
    if row is None:
        stored = (await connection.execute(_STORED, {"telegram_id": profile.telegram_id})).one()
        return Registration(user=User(**stored._asdict()), is_new=False)
    fields = row._asdict()
    is_new = bool(fields.pop("is_new"))
    return Registration(user=User(**fields), is_new=is_new)
