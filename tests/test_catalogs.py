"""The message catalogs are complete and current: what reaches a user is what the code and the .po files say.

`catalog_problems` checks, for every supported locale:
- the template (messages.pot) holds exactly the texts the code marks, as `pybabel extract` finds them now;
- each messages.po holds exactly the template's texts (`pybabel update` was run);
- every text is translated, not fuzzy, and keeps the msgid's {placeholders}; in the source locale (English,
  the language of the code) every msgstr is empty instead, so that the msgid is the text and cannot go stale.

There is no compiled .mo to check: the bot compiles each .po in memory when it starts
(telegram_bot/bot/i18n.py), so what a user reads is what the .po says.

The pre-commit hook `catalogs` runs this file without the conftest files (which need a database and aiogram),
in about a second; the whole suite, in .ci/run, runs it too.
"""

# The Russian texts are Cyrillic on purpose: letters that look Latin are no mistake here.
# ruff: noqa: RUF001

from __future__ import annotations

import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from telegram_bot.languages import DOMAIN, LOCALES_DIR, SOURCE_LOCALE, catalog_path, supported_locales

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "telegram_bot"
MAPPING = ROOT / "babel.cfg"


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def texts_of(catalog: Catalog) -> set[str]:
    """The msgids, with their context and plural: what identifies a text."""
    return {repr((message.context, message.id)) for message in catalog if message.id}


def forms(text: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """A text's forms: one, or one per plural form."""
    if text is None:
        return []
    return [text] if isinstance(text, str) else list(text)


def placeholders(text: str | tuple[str, ...] | list[str] | None) -> set[str]:
    parsed = (string.Formatter().parse(form) for form in forms(text))
    return {field for fields in parsed for _, field, _, _ in fields if field is not None}


def extracted(source_dir: Path, into: Path) -> Catalog:
    """The template `pybabel extract` writes from the code as it is now (docs/development.md: Languages)."""
    command = ["--quiet", "extract", "-F", str(MAPPING), "-o", str(into), str(source_dir)]
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *command], check=True)
    return read_catalog(into)


def message_problems(locale: str, message: Message) -> list[str]:
    text = repr(message.id)
    if message.fuzzy:
        return [f"{locale}: {text} is marked fuzzy: check its translation, then remove the flag"]
    translations = forms(message.string)
    if locale == SOURCE_LOCALE:
        if any(translations):
            return [f"{locale}: {text} has a msgstr: in the source locale, the msgid is the text"]
        return []
    if not translations or not all(translations):
        return [f"{locale}: {text} has no translation"]
    found = placeholders(message.string)
    if found != placeholders(message.id):
        return [f"{locale}: {text} has the placeholders {sorted(found)}, not its msgid's"]
    return []


def locale_problems(locale: str, locales_dir: Path, template: Catalog) -> list[str]:
    catalog = read_catalog(catalog_path(locale, locales_dir))
    problems = []
    if texts_of(catalog) != texts_of(template):
        problems.append(f"{locale}: {DOMAIN}.po differs from {DOMAIN}.pot: run pybabel update")
    for message in catalog:
        if message.id:
            problems += message_problems(locale, message)
    # Babel's own checks: %-format arguments, the number of plural forms.
    for message, errors in catalog.check():
        problems += [f"{locale}: {message.id!r}: {error}" for error in errors]
    return problems


def catalog_problems(locales_dir: Path, source_dir: Path, scratch: Path) -> list[str]:
    """Everything wrong with the catalogs in `locales_dir` for the code in `source_dir`; empty if nothing."""
    template = read_catalog(locales_dir / f"{DOMAIN}.pot")
    problems = []
    if texts_of(extracted(source_dir, scratch / f"{DOMAIN}.pot")) != texts_of(template):
        problems.append(f"{DOMAIN}.pot is stale against the code: run pybabel extract, then pybabel update")
    for locale in supported_locales(locales_dir):
        problems += locale_problems(locale, locales_dir, template)
    return problems


@pytest.fixture
def catalogs(tmp_path: Path) -> Path:
    """A copy of the catalogs, to break."""
    return Path(shutil.copytree(LOCALES_DIR, tmp_path / "locales"))


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The problems of the catalogs as they are: none, unless the test of the real catalogs fails too."""
    return catalog_problems(LOCALES_DIR, SOURCE_DIR, tmp_path_factory.mktemp("extracted"))


def new_problems(catalogs: Path, source_dir: Path, scratch: Path, known: list[str]) -> list[str]:
    """The problems a test's change to a copy of the catalogs or the code made, and only those."""
    return [problem for problem in catalog_problems(catalogs, source_dir, scratch) if problem not in known]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_bot_speaks_english_and_russian() -> None:
    assert supported_locales() == ("en", "ru")
    assert SOURCE_LOCALE in supported_locales()


def test_the_catalogs_are_complete_and_current(tmp_path: Path) -> None:
    assert catalog_problems(LOCALES_DIR, SOURCE_DIR, tmp_path) == []


def test_a_missing_russian_translation_is_caught(catalogs: Path, tmp_path: Path, known: list[str]) -> None:
    edit(catalog_path("ru", catalogs), 'msgstr "С возвращением, {first_name}!"', 'msgstr ""')

    assert new_problems(catalogs, SOURCE_DIR, tmp_path, known) == [
        "ru: 'Welcome back, {first_name}!' has no translation"
    ]


def test_a_fuzzy_or_broken_translation_is_caught(catalogs: Path, tmp_path: Path, known: list[str]) -> None:
    po = catalog_path("ru", catalogs)
    edit(
        po,
        '#, python-brace-format\nmsgid "Welcome back',
        '#, fuzzy, python-brace-format\nmsgid "Welcome back',
    )
    edit(po, "Добро пожаловать, {first_name}!", "Добро пожаловать, {имя}!")

    assert new_problems(catalogs, SOURCE_DIR, tmp_path, known) == [
        (
            "ru: 'Welcome, {first_name}! You are registered. Send /help to see what I can do.' has the "
            "placeholders ['имя'], not its msgid's"
        ),
        "ru: 'Welcome back, {first_name}!' is marked fuzzy: check its translation, then remove the flag",
    ]


def test_an_english_msgstr_is_caught(catalogs: Path, tmp_path: Path, known: list[str]) -> None:
    text = 'msgid "Welcome back, {first_name}!"\nmsgstr "'
    edit(catalog_path("en", catalogs), text + '"', text + 'Hello again, {first_name}!"')

    assert new_problems(catalogs, SOURCE_DIR, tmp_path, known) == [
        "en: 'Welcome back, {first_name}!' has a msgstr: in the source locale, the msgid is the text"
    ]


def test_a_text_added_to_the_code_but_not_to_the_catalogs_is_caught(
    catalogs: Path, tmp_path: Path, known: list[str]
) -> None:
    source = Path(shutil.copytree(SOURCE_DIR, tmp_path / "source", ignore=shutil.ignore_patterns("locales")))
    with (source / "bot" / "handlers" / "start.py").open("a") as texts:
        texts.write('\n\ndef goodbye() -> str:\n    return _("Goodbye!")\n')

    assert new_problems(catalogs, source, tmp_path, known) == [
        "messages.pot is stale against the code: run pybabel extract, then pybabel update"
    ]
