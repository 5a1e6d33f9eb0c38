"""Phase 1 schema: the people who talked to the bot. Later phases add their own tables."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from telegram_bot.db.base import Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Telegram user ids exceed 32 bits.
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    # Telegram bounds these lengths itself; text keeps a change on its side from failing an insert here.
    username: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    language_code: Mapped[str | None] = mapped_column(Text)
    # The newest update the profile fields were taken from: updates handled out of order (concurrently, or
    # redelivered late) never overwrite a newer profile with an older one.
    last_update_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, telegram_id={self.telegram_id!r})"
