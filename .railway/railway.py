"""The bot's Railway environment, as Railway Infrastructure as Code (replaces the deprecated railway.toml).

`railway config plan` shows what applying this file would change in the linked environment, and `railway
config apply` applies it. The deploy job runs `railway config apply --yes` before every upload, so a push to
main keeps the environment in step with this file (never with --confirm-destructive: a change that removes
something fails the deploy instead). The CLI evaluates the file with `python3`: it imports it, calls `main()`
and reads `.to_graph()`, so run it where railway-sdk is importable (`poetry run railway config plan`).
tests/deploy/test_railway_iac.py renders it the same way, offline, and checks the graph. What the file cannot
express is in docs/deploy.md (Deploy, Set up once).
"""

from __future__ import annotations

from railway_sdk import Project, define_railway, postgres, preserve, project, service

DATABASE = "Postgres"
BOT_SERVICE = "bot"


@define_railway
def main() -> Project:
    database = postgres(DATABASE)
    bot = service(
        BOT_SERVICE,
        # Railway's builder: it finds poetry.lock and installs the locked main dependencies into /app/.venv
        # (on PATH when the service runs), on the Python that .python-version names, the one CI tests on.
        build={"builder": "RAILPACK"},
        # The bot in webhook mode, listening on the PORT Railway injects.
        start="python -m telegram_bot",
        # Runs after the build and before the new deployment starts, in a container of its own with the
        # service's variables. If it fails, the deployment fails and the running one keeps serving.
        # migrations/env.py holds a PostgreSQL advisory lock while it migrates, so two deployments never
        # migrate at once.
        preDeploy="alembic upgrade head",
        # Probed on $PORT during a deployment only: traffic moves to the new deployment once /readyz (database
        # reachable, schema at the code's head) answers 200 within this many seconds.
        healthcheck="/readyz",
        healthcheckTimeout=120,
        # The SDK has no helpers for these; it passes `deploy` through to the service's deploy settings.
        deploy={
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 5,
            # When the new deployment is live, the old one gets SIGTERM and then, after this many seconds,
            # SIGKILL (Railway's default is 0). The bot needs up to SHUTDOWN_GRACE_SECONDS
            # (telegram_bot/runner.py) to finish the updates it has in hand.
            "drainingSeconds": 30,
        },
        env={
            # A reference: Railway fills in the database's private URL.
            "DATABASE_URL": database.env.DATABASE_URL,
            "BOT_MODE": "webhook",
            "LOG_FORMAT": "json",
            # Secrets never live here: they are set once on Railway (docs/deploy.md, Set up once), and
            # preserve() keeps whatever value is set there, so an apply neither shows nor removes them.
            "TELEGRAM_TOKEN": preserve(),
            "WEBHOOK_SECRET": preserve(),
        },
    )
    return project("telegram-bot", resources=[database, bot])
