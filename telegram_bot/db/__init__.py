"""The PostgreSQL layer: metadata and models, the engine factory, and the queries handlers call.

Importing this package registers every model on `metadata`, which is what Alembic compares against.
"""

from telegram_bot.db import models
from telegram_bot.db.base import Base, metadata

__all__ = ["Base", "metadata", "models"]
