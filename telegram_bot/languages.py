"""The languages the bot speaks: one gettext catalog per locale, in telegram_bot/locales.

The layout is gettext's: `<locale>/LC_MESSAGES/messages.po` (the translations, which the bot compiles in
memory when it starts: no .mo is kept), with the template `messages.pot` beside the locales. A locale is
supported when its catalog is there: adding a language needs no code. This module imports nothing heavy, so
that settings can check DEFAULT_LOCALE without loading aiogram.
"""

from __future__ import annotations

from pathlib import Path

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
# The language the texts are written in, in the code (the catalogs' msgids).
SOURCE_LOCALE = "en"
# Locales whose catalog was removed. Telegram keeps a command list until it is deleted, and cannot list the
# ones a bot has: start-up deletes these by name. Add a locale here when you remove its catalog.
RETIRED_LOCALES: tuple[str, ...] = ()


def catalog_path(locale: str, locales_dir: Path = LOCALES_DIR) -> Path:
    """Where the catalog (the .po) of `locale` lives."""
    return locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def supported_locales(locales_dir: Path = LOCALES_DIR) -> tuple[str, ...]:
    """Every locale with a catalog, sorted: the ones the bot's I18n loads."""
    return tuple(
        sorted(
            entry.name for entry in locales_dir.iterdir() if catalog_path(entry.name, locales_dir).is_file()
        )
    )
