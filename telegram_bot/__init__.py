"""A Telegram bot foundation on aiogram 3 and PostgreSQL."""
