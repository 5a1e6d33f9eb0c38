"""The documentation keeps its promises: the README stays an index, and what the docs show is real.

Every shell command in a fenced block (and every inline `poetry run ...`) of README.md and docs/*.md is parsed
as the shell would split it, and each simple command is checked by the program it names, without running it:
alembic, pybabel, pytest, `python -m telegram_bot` and `python -m benchmarks` parse its arguments with their
own parsers; every path it names exists; `python -c` code compiles. What cannot be checked offline (the
Railway CLI, npm, shell built-ins) must be listed in HAND_CHECKED, so that a new command cannot slip through
unchecked. Links and their anchors must resolve, every path named in the prose must exist, and the
configuration table must list exactly the settings of telegram_bot/config.py.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.config import CommandLine
from babel.messages.frontend import CommandLineInterface
from pydantic.fields import FieldInfo

from telegram_bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024

SHELL_LANGUAGES = {"sh", "bash"}
FENCE = re.compile(r"^( *)```(\S*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
ENVIRONMENT_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
# A path of this checkout as the docs write it: under a top-level directory of ours, or a file at the root.
REPOSITORY_PATH = re.compile(
    r"^(?:\./)?(?:(?:telegram_bot|tests|migrations|benchmarks|docs|\.ci|\.railway|\.github)(?:/[\w.\-]*)*"
    r"|[\w.\-]+\.(?:py|toml|ini|cfg|md|lock|yml|yaml|json))(?:::\w+)?/?$"
)
# Paths the docs name that are not the checkout's: made by a run, or Railway's files this project has none of.
NOT_IN_THE_CHECKOUT = (".pytest_cache/", "railway.toml", "railway.json")
PLACEHOLDER = re.compile(r"<[^>]*>|\$|\*")

# Commands the test cannot check offline, each with how it was checked instead (by program, then subcommand).
HAND_CHECKED = {
    ("railway", "config"): "railwayapp/cli 5.43.1, src/commands/config/mod.rs: plan, apply, --yes",
    ("railway", "variable"): "railwayapp/cli 5.43.1, src/commands/variable.rs: set KEY --stdin --service S",
    ("railway", "domain"): "railwayapp/cli 5.43.1, src/commands/domain.rs: bare `domain`, --service S",
    ("npm", "ci"): "`npm help ci` (npm 11.19 here) documents --strict-allow-scripts; not run (needs GitHub)",
    ("pre-commit", "install"): "`pre-commit install --help` parses; not run (a worktree shares git hooks)",
    ("pre-commit", "run"): "run by hand: `poetry run pre-commit run --all-files` passes",
    ("ruff", "check"): "run by hand before each commit: passes",
    ("ruff", "format"): "run by hand before each commit: passes",
    ("mypy", ""): "run by hand before each commit: passes",
    ("read", "-rsp"): "bash built-in (`help read`: -r raw, -s silent, -p prompt)",
    ("printf", "%s"): "bash built-in",
    (
        "export",
        "PATH=$PWD/.ci/railway-cli/node_modules/.bin:$PATH",
    ): "bash built-in; npm ci makes the directory",
}


@dataclass(frozen=True)
class Command:
    document: Path
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.document.relative_to(ROOT)}: {shlex.join(self.words)}"


def fences(text: str) -> Iterator[tuple[str, str]]:
    for match in FENCE.finditer(text):
        yield match.group(2), match.group(3)


def prose(text: str) -> str:
    """The text outside fenced blocks."""
    return FENCE.sub("", text)


def simple_commands(document: Path, line: str) -> Iterator[Command]:
    """The simple commands of one shell line, split on `&&`, `||`, `|` and `;`, comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in lexer:
        if token in {"&&", "||", "|", ";"}:
            yield Command(document, tuple(words))
            words = []
        else:
            words.append(token)
    if words:
        yield Command(document, tuple(words))


def shell_lines(block: str) -> Iterator[str]:
    """The block's lines, with backslash continuations joined and comment-only lines dropped."""
    for line in block.replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            yield line


def documented_commands() -> list[Command]:
    found: list[Command] = []
    for document in DOCUMENTS:
        text = document.read_text()
        for language, block in fences(text):
            if language in SHELL_LANGUAGES:
                for line in shell_lines(block):
                    found += simple_commands(document, line)
        for span in INLINE_CODE.findall(prose(text)):
            if re.match(r"^(time )?poetry run\s", span):
                found += simple_commands(document, " ".join(span.split()))
    return found


def without_prefixes(words: tuple[str, ...]) -> tuple[str, ...]:
    """The command without its environment assignments, `time` and `poetry run`."""
    while words and (ENVIRONMENT_ASSIGNMENT.match(words[0]) or words[0] == "time"):
        words = words[1:]
    if words[:2] == ("poetry", "run"):
        words = words[2:]
    return words


class RefusedError(Exception):
    """A documented command that its program would refuse."""


@contextlib.contextmanager
def parsing(program: str) -> Iterator[None]:
    """Turn a parser's exit (argparse, optparse) into a RefusedError that carries what it printed."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
            yield
    except SystemExit as exit_:
        raise RefusedError(
            f"{program} refuses it: {printed.getvalue().strip()} (exit {exit_.code})"
        ) from None


def names_a_path(word: str) -> bool:
    return bool(REPOSITORY_PATH.match(word)) and not PLACEHOLDER.search(word)


def check_paths(arguments: tuple[str, ...]) -> None:
    for argument in arguments:
        if names_a_path(argument):
            check_path(argument)


def check_path(named: str) -> None:
    path, _, test = named.partition("::")
    if not (ROOT / path).exists():
        raise RefusedError(f"{path} does not exist")
    if test and not re.search(rf"^(async )?def {test}\(", (ROOT / path).read_text(), re.MULTILINE):
        raise RefusedError(f"{path} defines no {test}")


def check_alembic(arguments: tuple[str, ...]) -> None:
    with parsing("alembic"):
        options = CommandLine(prog="alembic").parser.parse_args(list(arguments))
    if not hasattr(options, "cmd"):
        raise RefusedError("alembic needs a subcommand")


def check_pybabel(arguments: tuple[str, ...]) -> None:
    command, *options = arguments
    interface = CommandLineInterface()
    interface.log = logging.getLogger("babel")
    if command not in interface.command_classes:
        raise RefusedError(f"pybabel has no command {command}")
    with parsing("pybabel"):
        interface._configure_command(command, options)  # pybabel's own option parsing


def check_pytest(arguments: tuple[str, ...], config: pytest.Config) -> None:
    try:
        # pytest's own parser, with every option its plugins and our conftest files registered.
        options = config._parser.parse(list(arguments))
    except pytest.UsageError as error:
        raise RefusedError(f"pytest refuses it: {error}") from None
    for named in options.file_or_dir:
        check_path(named)


# The module that holds each program's argument parser (imported only when a doc runs that program).
PARSERS = {
    "telegram_bot": "telegram_bot.__main__",
    "benchmarks": "benchmarks.main",
    "benchmarks.locked_table": "benchmarks.locked_table",
    "telegram_bot.db.record_revisions": "telegram_bot.db.record_revisions",
}


def check_main_module(module: str, arguments: tuple[str, ...]) -> None:
    if module not in PARSERS:
        raise RefusedError(f"python -m {module}: no parser known to this test")
    parse_arguments = importlib.import_module(PARSERS[module])._parse_arguments
    with parsing(f"python -m {module}"):
        parse_arguments(list(arguments))


def check_python(arguments: tuple[str, ...], config: pytest.Config) -> None:
    """`python [-X opt] (-c code | -m module args...)`."""
    rest = list(arguments)
    while rest and rest[0] == "-X":
        rest = rest[2:]
    if rest[:1] == ["-c"]:
        try:
            compile(rest[1], "<docs>", "exec")
        except SyntaxError as error:
            raise RefusedError(f"python -c: {error}") from None
    elif rest[:1] == ["-m"]:
        module, options = rest[1], tuple(rest[2:])
        if module == "pytest":
            check_pytest(options, config)
        else:
            check_main_module(module, options)
    else:
        raise RefusedError("python without -c or -m: this test knows no such command")


def check_ci_script(program: str, arguments: tuple[str, ...]) -> None:
    script = ROOT / program
    if not script.is_file():
        raise RefusedError(f"{program} does not exist")
    if program == ".ci/verify" and arguments:
        arms = re.findall(r"^\s+([a-z|]+)\)", script.read_text(), re.MULTILINE)
        if arguments[0] not in {arm for alternatives in arms for arm in alternatives.split("|")}:
            raise RefusedError(f".ci/verify has no step {arguments[0]}")
    check_paths(arguments)


def check(command: Command, config: pytest.Config) -> None:
    words = without_prefixes(command.words)
    program, arguments = words[0], words[1:]
    if words == ("poetry", "install"):
        return
    if program in {"python", "python3"}:
        check_python(arguments, config)
    elif program == "pytest":
        check_pytest(arguments, config)
    elif program == "alembic":
        check_alembic(arguments)
    elif program == "pybabel":
        check_pybabel(arguments)
    elif program == "bash" and arguments[0].startswith(".ci/"):
        check_ci_script(arguments[0], arguments[1:])
    elif program.startswith(".ci/"):
        check_ci_script(program, arguments)
    elif (program, arguments[0] if arguments else "") in HAND_CHECKED:
        check_paths(arguments)
    else:
        raise RefusedError("neither checked here nor listed in HAND_CHECKED")


def test_every_documented_command_is_one_its_program_accepts(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    commands = documented_commands()
    refused = []
    for command in commands:
        try:
            check(command, pytestconfig)
        except RefusedError as error:
            refused.append(f"{command}: {error}")
    assert not refused, "\n".join(refused)
    # The extraction itself works: the README's two commands and the docs' main tools are all found.
    programs = {without_prefixes(command.words)[0] for command in commands}
    assert {"alembic", "pybabel", "pytest", "python", "railway", ".ci/verify"} <= programs


def test_a_command_its_program_refuses_is_caught(pytestconfig: pytest.Config) -> None:
    document = ROOT / "docs" / "example.md"
    broken = [
        "poetry run alembic upgrade head --no-such-option",
        "poetry run alembic",
        "poetry run pybabel compile -d telegram_bot/locales --no-such-option",
        "poetry run pytest --no-such-option tests",
        "poetry run pytest tests/no_such_test.py",
        "poetry run pytest tests/test_docs.py::test_no_such_test",
        "poetry run python -m telegram_bot serve",
        "poetry run python -m benchmarks --no-such-option",
        ".ci/verify deploy",
        ".ci/verify compat main tests/no_such_folder",
        "poetry run python -c 'import ('",
        "poetry run railway up",
        "cat README.md",
    ]
    for line in broken:
        (command,) = simple_commands(document, line)
        with pytest.raises(RefusedError):
            check(command, pytestconfig)


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    (ci_command,) = re.findall(r"step bash -c '([^']+)'", (ROOT / ".ci" / "verify").read_text())
    quick_start = next(block for language, block in fences(README.read_text()) if language in SHELL_LANGUAGES)
    commands = [line.partition("#")[0].strip() for line in quick_start.splitlines()]
    assert ci_command in commands
    assert (
        "poetry install && poetry run alembic upgrade head && poetry run python -m telegram_bot" in commands
    )


def test_the_readme_is_an_index_of_at_most_12_kb() -> None:
    assert len(README.read_bytes()) <= README_LIMIT


def test_every_fenced_block_names_its_language() -> None:
    unnamed = [
        document.name
        for document in DOCUMENTS
        if any(not language for language, _ in fences(document.read_text()))
    ]
    assert unnamed == []


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_every_link_and_anchor_resolves() -> None:
    broken = []
    for document in DOCUMENTS:
        for target in LINK.findall(document.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            if not linked.exists():
                broken.append(f"{document.name}: {target}")
            elif anchor and anchor not in {slug(heading) for heading in HEADING.findall(linked.read_text())}:
                broken.append(f"{document.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_path_the_prose_names_exists() -> None:
    missing = []
    for document in DOCUMENTS:
        for span in INLINE_CODE.findall(prose(document.read_text())):
            if names_a_path(span) and not span.startswith(NOT_IN_THE_CHECKOUT):
                try:
                    check_path(span)
                except RefusedError as error:
                    missing.append(f"{document.name}: {error}")
    assert not missing, "\n".join(missing)


def configuration_rows() -> dict[str, list[str]]:
    """The README's configuration table: each variable with its row's cells (required, default, meaning)."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `"):
            for variable in re.findall(r"`([A-Z_]+)`", cells[0]):
                rows[variable] = cells[1:]
    return rows


def default_of(field: FieldInfo) -> str | None:
    default = field.default
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default) if isinstance(default, str | int | float) else None


def test_the_configuration_table_lists_every_setting_as_config_py_defines_it() -> None:
    rows = configuration_rows()
    assert set(rows) == {name.upper() for name in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        required, default_cell, _meaning = rows[name.upper()]
        assert (required == "yes") == field.is_required(), name
        default = default_of(field)
        if default is not None:
            assert f"`{default}`" in default_cell, name


def test_the_environment_example_names_every_setting_a_person_sets() -> None:
    example = (ROOT / ".env.example").read_text()
    set_by_railway = {"RAILWAY_PUBLIC_DOMAIN"}
    assert {name.upper() for name in Settings.model_fields} - set_by_railway <= set(
        re.findall(r"^#? ?([A-Z_]+)=", example, re.MULTILINE)
    )
