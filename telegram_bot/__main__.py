"""`python -m telegram_bot`: run the bot; `python -m telegram_bot check`: check that it could run."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sqlalchemy import text

from telegram_bot import loop
from telegram_bot.config import ConfigurationError, Settings, load
from telegram_bot.db import metadata
from telegram_bot.db.engine import create_engine, describe_database_error
from telegram_bot.db.schema import schema_status
from telegram_bot.log import SecretRedactor, configure_logging

if TYPE_CHECKING:
    from telegram_bot.webhook import Verdict


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m telegram_bot", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        choices=("run", "check"),
        default="run",
        help="run the bot (default), or check settings, database, schema and webhook and exit",
    )
    parser.add_argument(
        "--take-over-webhook",
        action="store_true",
        help="polling mode: delete the webhook another deployment of this token registered and poll instead "
        "(that deployment then receives nothing); without it, polling does not start while a webhook is set",
    )
    arguments = parser.parse_args(argv)
    if arguments.take_over_webhook and arguments.command != "run":
        parser.error("--take-over-webhook is an option of `run`")
    return arguments


def _report(verdict: Verdict, name: str, detail: str) -> None:
    print(f"{verdict:<6}{name}: {detail}")  # noqa: T201 - the command's output


def _passed(name: str, detail: str) -> None:
    _report("ok", name, detail)


def _failed(name: str, detail: str) -> None:
    _report("FAIL", name, detail)


async def check(settings: Settings) -> int:
    """One line per check: database, schema (at the migrations' head or compatible), Telegram's webhook."""
    redact = SecretRedactor(settings.secrets()).redact
    engine = create_engine(settings.url, pool_size=1)
    try:
        async with engine.connect() as connection:
            version = (await connection.execute(text("SHOW server_version"))).scalar_one()
        _passed("database", f"connected to PostgreSQL {version}")
        status = await schema_status(engine, metadata)
    except Exception as error:  # noqa: BLE001 - any failure is the check's answer
        _failed("database", redact(describe_database_error(error)))
        return 1
    finally:
        await engine.dispose()
    if not status.is_usable:
        _failed("schema", status.describe())
        return 1
    _passed("schema", status.describe())
    return 0 if await _check_webhook(settings) else 1


async def _check_webhook(settings: Settings) -> bool:
    """Telegram's webhook: registered at the configured URL in webhook mode, absent in polling mode."""
    # Imported here: aiogram takes seconds to import, and a failed database check should not wait for it.
    from telegram_bot.bot.dispatcher import build_bot  # noqa: PLC0415
    from telegram_bot.runner import StartupError, telegram_set_up  # noqa: PLC0415
    from telegram_bot.webhook import webhook_findings  # noqa: PLC0415

    bot = build_bot(settings)
    try:
        async with telegram_set_up():
            info = await bot.get_webhook_info()
    except StartupError as error:
        _failed("webhook", str(error))
        return False
    finally:
        await bot.session.close()
    expected = settings.webhook_url if settings.bot_mode == "webhook" else None
    findings = webhook_findings(info, expected)
    for verdict, detail in findings:
        _report(verdict, "webhook", detail)
    return all(verdict != "FAIL" for verdict, _ in findings)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    try:
        settings = load(Settings)
    except ConfigurationError as error:
        if arguments.command == "check":
            for line in str(error).splitlines():
                _failed("settings", line)
            return 1
        print(f"Configuration error:\n{error}", file=sys.stderr)  # noqa: T201
        return 2
    if arguments.take_over_webhook and settings.bot_mode != "polling":
        print("--take-over-webhook is for BOT_MODE=polling: webhook mode registers its own", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    if arguments.command == "check":
        _passed("settings", "valid")
        return loop.run(check(settings))
    # Imported here: aiogram takes seconds to import, and a settings error or `check` should not wait for it.
    from telegram_bot.runner import run  # noqa: PLC0415

    return loop.run(run(settings, take_over_webhook=arguments.take_over_webhook))


if __name__ == "__main__":
    sys.exit(main())
