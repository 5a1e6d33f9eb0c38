"""The table and the JSON line: every rate, the ratios the targets are about, PASS or MISS next to each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from benchmarks.flood import FloodResult, describe
from benchmarks.paths import Measurement, Statements
from benchmarks.process import Memory

MB = 1024 * 1024

NOTES = """\
1  the project's build_dispatcher (its filters, middlewares and error handler) fed /help updates with
   feed_update: one reply through a no-op Bot API session, no database (a connection request fails the run)
2  /start through build_dispatcher, DatabaseMiddleware and register_user on autocommit(engine).connect, as
   runner.py assembles them, against PostgreSQL; a no-op Bot API session. 2b: the same users again, later
3  the same /start POSTed over HTTP (from another process, with the secret header) to build_web_app in this
   process; timed until the last answer (each is given after its row and reply)
4  the SQL the real path sent (captured from 2), one statement per update, through a raw asyncpg pool of 20
   (no reset query on release, so one round trip per update, as on the real path)
5  benchmarks/reference.py (an AsyncSession per update, ORM select-then-insert, commit, reply) behind
   aiogram's SimpleRequestHandler, which answers before handling; the same HTTP load; timed until the last
   reply (each is sent after its commit); on asyncio's own event loop, as the pattern runs. 5u: the same on
   uvloop (no target), to show how much of the project's lead the loop alone would give the reference
5p the reference as a process of its own (`python -m benchmarks.reference`: web.run_app, asyncio's loop),
   same HTTP load; its replies go over HTTP to a fake Bot API (tests/support/fakes.py) in this process
6  `python -m telegram_bot` in webhook mode, a process of its own, on uvloop where installed: the same load,
   its replies over HTTP to the same kind of fake Bot API. 6 / 5p compares whole processes, each paying for
   its replies' HTTP requests, as the reference row 5 (a no-op session) does not
7  `python -m telegram_bot` with its pacing on (the default settings) against a fake Bot API that limits like
   Telegram (tests/support/flood.py); a burst of new users' /start plus 20 users sending it 4 times, over 40
   connections, redelivered until answered 2xx. Rows 1-6 run with pacing off (TELEGRAM_MESSAGES_PER_SECOND=0)
   against an unlimited double: they measure the bot's own cost, not Telegram's limits
Every path: the same N users, an empty users table, a warm-up first; 1 and 2 feed updates already bound to
the bot, as the webhook handler and polling hand them over. CPU ms/update: CPU time of the process that
handled the updates (this one for 1-5, the bot's for 5p and 6) during the timed phase. Rates, and the targets'
ratios, are wall clock: other load on the machine lowers them (see the load average above); "by CPU" is
the same ratio from CPU ms/update, which other load disturbs less."""


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    measured: float
    goal: str
    met: bool
    stretch_met: bool | None = None
    # The same ratio from CPU time per update rather than wall clock: less sensitive to other load.
    by_cpu: float | None = None

    @property
    def result(self) -> str:
        result = "PASS" if self.met else "MISS"
        if self.stretch_met is not None:
            result += f" (stretch {'PASS' if self.stretch_met else 'MISS'})"
        return result


@dataclass
class Results:
    updates: int
    concurrency: int
    environment: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    statements: Statements | None = None
    ready_seconds: float = 0.0
    bot_memory: Memory = field(default_factory=lambda: Memory(0, 0))
    bare_aiogram: Memory = field(default_factory=lambda: Memory(0, 0))
    bare_import_seconds: float = 0.0
    flood: FloodResult | None = None

    def measurement(self, key: str) -> Measurement:
        (measurement,) = (m for m in self.measurements if m.key == key)
        return measurement

    def rate(self, key: str) -> float:
        return self.measurement(key).rate

    def cpu_ratio(self, key: str, baseline: str) -> float:
        """How many updates of `key` the CPU time of one update of `baseline` pays for."""
        return self.measurement(baseline).cpu_ms / self.measurement(key).cpu_ms

    def flood_targets(self) -> list[Target]:
        if self.flood is None:
            return []
        ratio, refused = self.flood.ratio, self.flood.refused_share
        return [
            Target(
                "flood_makespan_vs_minimum",
                "7 makespan / limits' minimum",
                ratio,
                "<= 1.25 (stretch 1.1)",
                ratio <= 1.25,
                ratio <= 1.1,
            ),
            Target("flood_refused_share", "7 sends refused with 429", refused, "<= 0.10", refused <= 0.10),
        ]

    def targets(self) -> list[Target]:
        throughput = self.throughput_targets() if self.measurements else []  # none with --only-flood
        return throughput + self.flood_targets()

    def throughput_targets(self) -> list[Target]:
        new_vs_ceiling = self.rate("real_new") / self.rate("ceiling")
        returning_vs_new = self.rate("real_returning") / self.rate("real_new")
        webhook_vs_reference = self.rate("webhook") / self.rate("reference")
        process_vs_reference = self.rate("process") / self.rate("reference_process")
        memory = self.bot_memory.peak / self.bare_aiogram.peak
        ready_over_import = self.ready_seconds - self.bare_import_seconds
        return [
            Target(
                "new_vs_ceiling",
                "2a new users / 1 ceiling",
                new_vs_ceiling,
                ">= 0.40 (stretch 0.50)",
                new_vs_ceiling >= 0.40,
                new_vs_ceiling >= 0.50,
                self.cpu_ratio("real_new", "ceiling"),
            ),
            Target(
                "returning_vs_new",
                "2b returning / 2a new users",
                returning_vs_new,
                ">= 0.95 (no slower, within noise)",
                returning_vs_new >= 0.95,
                by_cpu=self.cpu_ratio("real_returning", "real_new"),
            ),
            Target(
                "webhook_vs_reference",
                "3 webhook / 5 reference",
                webhook_vs_reference,
                ">= 2.0 (stretch 2.5)",
                webhook_vs_reference >= 2.0,
                webhook_vs_reference >= 2.5,
                self.cpu_ratio("webhook", "reference"),
            ),
            Target(
                "process_vs_reference",
                "6 real process / 5p reference",
                process_vs_reference,
                ">= 2.0 (stretch 2.5)",
                process_vs_reference >= 2.0,
                process_vs_reference >= 2.5,
                self.cpu_ratio("process", "reference_process"),
            ),
            Target(
                "bot_memory_vs_bare_aiogram", "bot peak RSS / bare aiogram", memory, "<= 1.25", memory <= 1.25
            ),
            Target(
                "ready_over_bare_import",
                "ready - bare import aiogram, s",
                ready_over_import,
                "<= 0.5",
                ready_over_import <= 0.5,
            ),
        ]


def table(results: Results) -> str:
    environment = results.environment
    lines = [
        (
            f"{results.updates} updates a path, {results.concurrency} in flight; PostgreSQL "
            f"{environment['postgresql']} (synchronous_commit={environment['synchronous_commit']}); "
            f"{environment['cpus']} CPUs, load average {environment['load_average']}; "
            f"Python {environment['python']}; aiogram {environment['aiogram']}; event loop: "
            f"{environment['event_loop']['project']} for the project (1-4, 6), "
            f"{environment['event_loop']['reference']} for the reference (5, 5p)"
        ),
        "",
        f"{'path':<44} {'updates':>8} {'seconds':>8} {'updates/s':>10} {'CPU ms/update':>14}",
    ]
    lines += [
        f"{m.label:<44} {m.updates:>8} {m.seconds:>8.2f} {m.rate:>10.0f} {m.cpu_ms:>14.3f}"
        for m in results.measurements
    ]
    lines += ["", f"{'target':<30} {'measured':>9} {'by CPU':>7}  {'goal':<34} result"]
    for target in results.targets():
        by_cpu = "" if target.by_cpu is None else f"{target.by_cpu:.2f}"
        lines.append(
            f"{target.label:<30} {target.measured:>9.2f} {by_cpu:>7}  {target.goal:<34} {target.result}"
        )
    lines += [
        "",
        (
            f"memory: bot process (python -m telegram_bot, after the HTTP load of 6) peak RSS "
            f"{results.bot_memory.peak / MB:.1f} MB (RSS now {results.bot_memory.rss / MB:.1f} MB); "
            f'bare python -c "import aiogram": {results.bare_aiogram.peak / MB:.1f} MB'
        ),
        (
            f"ready: {results.ready_seconds:.2f} s from spawning python -m telegram_bot to GET /readyz 200; "
            f'{results.bare_import_seconds:.2f} s from spawning python -c "import aiogram" to its import done'
        ),
    ]
    if results.flood is not None:
        lines += ["", describe(results.flood)]
    if results.statements is not None:
        lines.append(
            f"SQL statements per /start on the real path: new user {len(results.statements.new_user)}, "
            f"returning user {len(results.statements.returning_user)}"
        )
    return "\n".join([*lines, "", NOTES])


def json_line(results: Results) -> str:
    targets = results.targets()
    summary = {
        "updates": results.updates,
        "concurrency": results.concurrency,
        "environment": results.environment,
        "rates": {m.key: round(m.rate, 1) for m in results.measurements},
        "seconds": {m.key: round(m.seconds, 3) for m in results.measurements},
        "cpu_ms_per_update": {m.key: round(m.cpu_ms, 3) for m in results.measurements},
        "ratios": {t.key: round(t.measured, 3) for t in targets if t.key != "ready_over_bare_import"},
        "ratios_by_cpu": {t.key: round(t.by_cpu, 3) for t in targets if t.by_cpu is not None},
        "ready_seconds": round(results.ready_seconds, 3),
        "bare_import_aiogram_seconds": round(results.bare_import_seconds, 3),
        "rss_mb": {
            "bot_peak": round(results.bot_memory.peak / MB, 1),
            "bot_after_load": round(results.bot_memory.rss / MB, 1),
            "bare_aiogram": round(results.bare_aiogram.peak / MB, 1),
        },
        "sql_statements_per_start": {
            "new_user": len(results.statements.new_user) if results.statements else None,
            "returning_user": len(results.statements.returning_user) if results.statements else None,
        },
        "at_telegrams_limits": None if results.flood is None else flood_summary(results.flood),
        "targets": {t.key: t.result for t in targets},
        "valid": True,
    }
    return json.dumps(summary)


def flood_summary(flood: FloodResult) -> dict[str, Any]:
    return {
        "users": flood.users,
        "repeaters": flood.repeaters,
        "replies": flood.replies,
        "makespan_seconds": round(flood.makespan, 3),
        "minimum_seconds": round(flood.minimum, 3),
        "makespan_vs_minimum": round(flood.ratio, 3),
        "refused_429": flood.refused,
        "refused_share": round(flood.refused_share, 4),
        "missing": 0,
        "doubled": 0,
        "deliveries": flood.deliveries,
    }


def flood_report(results: Results) -> str:
    """Row 7 alone (`--only-flood`): its numbers and its targets."""
    assert results.flood is not None  # noqa: S101 - the caller ran it
    lines = [f"load average {results.environment['load_average']}", describe(results.flood), ""]
    lines += [f"{t.label:<30} {t.measured:>9.3f}  {t.goal:<24} {t.result}" for t in results.flood_targets()]
    return "\n".join(lines)
