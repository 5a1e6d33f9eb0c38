"""`python -m telegram_bot`: the command line."""

from __future__ import annotations

import sys

from telegram_bot.config import ConfigurationError, Settings, load


def main() -> int:
    try:
        load(Settings)
    except ConfigurationError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
