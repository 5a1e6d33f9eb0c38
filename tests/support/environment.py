"""The settings the tests give the bot, in a module of their own: cheap to import (no aiogram)."""

from __future__ import annotations

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

# The environment variables the bot's settings read: a test clears them all, then sets what it means to.
SETTINGS_PREFIXES = (
    "TELEGRAM_",
    "DATABASE_",
    "LOG_",
    "BOT_",
    "WEBHOOK_",
    "RAILWAY_",
    "HOST",
    "PORT",
    "DEFAULT_LOCALE",
)
