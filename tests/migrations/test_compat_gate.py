"""Proof by mutation: the gate, run as CI runs it, lets a compatible migration by and stops a breaking one.

A temporary repository holds a copy of this checkout as the previous release (`main`), and one branch per
scratch revision on top of it (tests/migrations/mutations.py). On each, `.ci/verify compat main` runs exactly
as the workflow runs it: the whole previous suite, minus only what the gate itself leaves out (its migration
and deploy tests, and the tests marked `schema_state`). It must pass the four compatible revisions, and fail
the three breaking ones naming the previous release's test that broke.

The gate runs are the slow part (each is a run of most of the suite): the tests that start them are marked
`gate_proof`, left out of the default run and run by `.ci/verify gate-proof`, a step of CI of its own.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import Server
from tests.migrations.checkout import git
from tests.migrations.mutations import ADDITIVE, BREAKING, MUTATIONS, OLDER_RELEASE

# Gates at once. One, as the verify job runs its gate: each gate's pytest already spreads over xdist's workers
# (two a core), and three at once overloaded CI's two cores until the bot-process tests timed out.
GATES_AT_ONCE = 1
# The first test to ask waits for the gates ahead of its own: pytest-timeout's 120 s is for one test's work.
PROOF_TIMEOUT_SECONDS = 1200


def gate(worktree: Path, *arguments: str) -> list[str]:
    """The command line of `.ci/verify compat` in that checkout."""
    return [str(worktree / ".ci" / "verify"), "compat", *arguments]


def test_the_gate_passes_a_release_older_than_the_switch_with_one_line(releases: dict[str, Path]) -> None:
    worktree = releases["required-column"]
    commit = git(worktree, "rev-parse", OLDER_RELEASE).decode().strip()

    result = subprocess.run(
        gate(worktree, OLDER_RELEASE), cwd=worktree, capture_output=True, text=True, check=False
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        (
            f"compat: not checked: {OLDER_RELEASE} ({commit[:12]}) predates the TEST_MIGRATIONS_FROM switch, "
            "so its tests cannot run against these migrations"
        )
    ]


def test_the_gate_refuses_a_base_that_is_not_in_the_clone(releases: dict[str, Path]) -> None:
    worktree = releases["required-column"]
    unknown = "f" * 40

    result = subprocess.run(
        gate(worktree, unknown), cwd=worktree, capture_output=True, text=True, check=False
    )

    assert result.returncode == 2
    assert (
        result.stderr
        == f"compat: {unknown} is not a commit in this clone (fetch the history: fetch-depth: 0)\n"
    )


async def run_gate(worktree: Path, server_url: str, slots: asyncio.Semaphore) -> tuple[int, str]:
    environment = {k: v for k, v in os.environ.items() if k != "TEST_MIGRATIONS_FROM"}
    environment |= {
        "TEST_DATABASE_URL": server_url,
        # The environment these tests run in, which the gate's `poetry run` then uses as it is.
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
    }
    async with slots:
        process = await asyncio.create_subprocess_exec(
            *gate(worktree, "main"),
            cwd=worktree,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await process.communicate()
        except asyncio.CancelledError:
            process.kill()
            await process.wait()
            raise
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.fixture(scope="module")
async def gates(
    releases: dict[str, Path], postgresql_server: Server
) -> AsyncIterator[dict[str, asyncio.Task[tuple[int, str]]]]:
    """The gate on every scratch revision, the slow ones first, GATES_AT_ONCE at a time."""
    server = postgresql_server.url(postgresql_server.maintenance_dbname).set(drivername="postgresql")
    url = server.render_as_string(hide_password=False)
    slots = asyncio.Semaphore(GATES_AT_ONCE)
    running = {
        name: asyncio.ensure_future(run_gate(releases[name], url, slots)) for name in [*ADDITIVE, *BREAKING]
    }
    yield running
    for task in running.values():
        task.cancel()
    await asyncio.gather(*running.values(), return_exceptions=True)


def failed_tests(output: str) -> list[str]:
    """The tests pytest's summary names as failed."""
    return re.findall(r"^FAILED (\S+)", output, flags=re.MULTILINE)


@pytest.mark.gate_proof
@pytest.mark.timeout(PROOF_TIMEOUT_SECONDS)
@pytest.mark.parametrize("name", BREAKING)
async def test_the_gate_fails_a_revision_that_breaks_the_previous_release_naming_its_test(
    gates: dict[str, asyncio.Task[tuple[int, str]]], releases: dict[str, Path], name: str
) -> None:
    status, output = await gates[name]
    breaks = MUTATIONS[name].breaks
    assert breaks is not None
    table, column = breaks.split(".")
    failed = failed_tests(output)

    assert status != 0, output
    assert "compat: FAILED: the tests of main fail against this checkout's schema" in output
    # The gate stops at the first test that broke (-x; each of its workers at its first), and names it: one
    # of the previous release's own.
    previous = releases[name].parent / "previous"
    assert failed, output
    assert all((previous / test.split("::")[0]).is_file() for test in failed), failed
    # PostgreSQL's own refusal of the previous release's statement, naming the column.
    assert f'column "{column}"' in output
    assert f'relation "{table}"' in output


@pytest.mark.gate_proof
@pytest.mark.timeout(PROOF_TIMEOUT_SECONDS)
@pytest.mark.parametrize("name", ADDITIVE)
async def test_the_gate_passes_a_revision_that_keeps_the_previous_release_working(
    gates: dict[str, asyncio.Task[tuple[int, str]]], name: str
) -> None:
    status, output = await gates[name]
    summary = output.splitlines()[-1]

    assert status == 0, output
    assert "compat: the tests of main" in output
    # The whole previous suite ran (some 200 tests), the tests that pin its own schema apart.
    passed = re.fullmatch(r"=+ (\d+) passed(, \d+ deselected)? in [\d.]+s( \(\S+\))? =+", summary)
    assert passed is not None, summary
    assert int(passed.group(1)) > 150, summary
