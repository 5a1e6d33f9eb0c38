"""Write telegram_bot/db/revisions.py, the migrations' revisions as the running code knows them.

`alembic revision` runs this after writing a revision (alembic.ini's post-write hook), from the directory of
alembic.ini; after a hand edit of migrations/ (a rebase, a merge revision) run it yourself:

    poetry run python -m telegram_bot.db.record_revisions

tests/migrations fails while the record and migrations/ disagree. The bot reads the record, not the revision
files, so the package knows its head wherever it is installed, and without importing Alembic (about 11 MB).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

RECORD = Path(__file__).with_name("revisions.py")
HEADER = '''"""The migrations' revisions, as the running code knows them: written by record_revisions.py.

`alembic revision` rewrites this file; do not edit it by hand.
"""

'''


def render(config_file: str = "alembic.ini") -> str:
    """The record's text for the migrations that `config_file` names."""
    scripts = ScriptDirectory.from_config(Config(config_file))
    head = scripts.get_current_head()  # raises when migrations/ has several heads: merge them first
    known = sorted(script.revision for script in scripts.walk_revisions())
    if head is None:
        raise SystemExit(f"{config_file}: migrations/ holds no revision")
    # Revision ids are hex digits: quoted as they are, in the formatter's style.
    lines = "".join(f'        "{revision}",\n' for revision in known)
    return f'{HEADER}HEAD: str = "{head}"\nKNOWN: frozenset[str] = frozenset(\n    {{\n{lines}    }}\n)\n'


def _parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m telegram_bot.db.record_revisions", description=__doc__)
    # Alembic's post-write hook passes the revision it wrote; the record is made from all of them.
    parser.add_argument("revision_file", nargs="?", help="the revision just written (ignored)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    _parse_arguments(argv)
    RECORD.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
