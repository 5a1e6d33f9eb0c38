"""Temporary copies of this checkout, for tests that change what a developer would change."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GIT = shutil.which("git") or "git"


def git(repository: Path, *arguments: str) -> bytes:
    return subprocess.run(
        [GIT, "-c", "user.name=scratch", "-c", "user.email=scratch@example.test", *arguments],
        cwd=repository,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout


def copy_of_this_checkout(destination: Path) -> None:
    """The files of this checkout as they are (committed or not), without what git ignores."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").decode()
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
