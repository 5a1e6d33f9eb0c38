"""A stand-in for the Railway CLI, for running .ci/deploy in tests.

It answers the commands .ci/deploy uses with the outputs and exit statuses of the real CLI's source
(railwayapp/cli 5.43.1: src/commands/up.rs, deployment.rs, status.rs, config/, logs.rs, src/util/reporter.rs,
src/controllers/service.rs and project.rs; the npm package's bin/railway.js), as a scenario file says:
- errors go to stderr, but `up --json`'s, which go to stdout as one JSON object {"error", "code", "hint"};
- `up --service` takes the service's exact name or id; `deployment list --service` ignores the name's case;
- `deployment list --json` prints each status as Rust's Debug of the generated enum: a value the CLI's schema
  does not know is `Other("VALUE")`.
Tests install it on PATH as `railway` (see `install`), and read back every call it got.

Scenario (JSON, the file FAKE_RAILWAY_SCENARIO names):
  version      what `railway --version` reports; null: the npm install script never ran, so the shim exits 127
  token        the only RAILWAY_TOKEN Railway accepts
  service      the only service in the project (besides Postgres)
  apply        "ok", "destructive" (plan removes something) or "broken" (the file does not evaluate)
  statuses     the statuses the new deployment goes through, one per `deployment list` after the upload; the
               last one repeats
  upload       "ok", or "rejected" (Railway refuses the upload as too large)
  listing_failures  how many `deployment list` calls after the upload fail before one answers
Each call is appended to FAKE_RAILWAY_CALLS as one JSON line: {"argv": [...]}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

from tests.deploy.iac import RENDER_SCRIPT

ROOT = Path(__file__).resolve().parents[2]
PINNED_VERSION = json.loads((ROOT / ".ci" / "railway-cli" / "package.json").read_text(encoding="utf-8"))[
    "dependencies"
]["@railway/cli"]
SERVICE = "bot"
SERVICE_ID = "7c1e4b55-3d1a-4c8e-9f0b-5e2a6d4c8b10"
DATABASE_SERVICE = "Postgres"
# The DeploymentStatus values of the CLI's GraphQL schema (src/gql/schema.json).
KNOWN_STATUSES = {
    "BUILDING",
    "CRASHED",
    "DEPLOYING",
    "FAILED",
    "INITIALIZING",
    "NEEDS_APPROVAL",
    "QUEUED",
    "REMOVED",
    "REMOVING",
    "SKIPPED",
    "SLEEPING",
    "SUCCESS",
    "WAITING",
}
UNAUTHORIZED = (
    "Unauthorized. Please check that your RAILWAY_TOKEN is valid and has access to the resource you're "
    "trying to use."
)
# src/controllers/upload.rs, when Railway answers 413 to the upload.
UPLOAD_REJECTED = "Failed to upload code. File too large (734003200 bytes): request entity too large"
DEPLOYMENT_ID = "0f9c2f6e-5f4b-4c59-9d7e-3a3d1b1e7c42"
PREVIOUS_ID = "5b0d8a8e-0c6f-4e0b-8f5e-2f6f0d0d9a11"
LOGS_URL = f"https://railway.com/project/p1/service/s1?id={DEPLOYMENT_ID}"


def install(bin_dir: Path) -> Path:
    """Write `railway` into bin_dir: a shim that runs this module with the test's interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "railway"
    shim.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m tests.deploy.fake_railway "$@"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    return shim


def write_scenario(file: Path, token: str, **changes: Any) -> None:
    """A scenario where all goes well (the pinned CLI, `token` accepted, SUCCESS), but for `changes`."""
    scenario = {
        "version": PINNED_VERSION,
        "token": token,
        "service": SERVICE,
        "apply": "ok",
        "statuses": ["BUILDING", "DEPLOYING", "SUCCESS"],
        **changes,
    }
    file.write_text(json.dumps(scenario), encoding="utf-8")


def calls(log: Path) -> list[list[str]]:
    """The argument lists of every call the fake got, in order."""
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text(encoding="utf-8").splitlines()]


def _fail(message: str, status: int = 1) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(status)


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _fail_as(argv: list[str], message: str, code: str = "ERROR", hint: str | None = None) -> NoReturn:
    """A fatal error as src/util/reporter.rs renders it: JSON on stdout for `up --json`, else on stderr."""
    if argv[:1] == ["up"] and "--json" in argv:
        print(json.dumps({"error": message, "code": code, "hint": hint}))
        sys.exit(1)
    _fail(message if hint is None else f"{message}\n  → {hint}")


def _authorized(argv: list[str], scenario: dict[str, Any]) -> None:
    if os.environ.get("RAILWAY_TOKEN") != scenario["token"]:
        _fail_as(argv, UNAUTHORIZED, "UNAUTHORIZED")


def _services(scenario: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"id": SERVICE_ID, "name": scenario["service"]},
        {"id": "2d9f0c1a-8b7e-4f6d-a5c4-3b2a1f0e9d8c", "name": DATABASE_SERVICE},
    ]


def _status(argv: list[str], scenario: dict[str, Any]) -> None:
    _authorized(argv, scenario)
    if "--json" not in argv:
        print(f"Project: telegram-bot\nEnvironment: production\nService: {scenario['service']}")
        return
    project: dict[str, Any] = {
        "id": "p1",
        "name": "telegram-bot",
        "workspaceId": "w1",
        "deletedAt": None,
        "workspace": {"name": "ops"},
        "buckets": {"edges": []},
        "environments": {
            "edges": [
                {
                    "node": {
                        "id": "e1",
                        "name": "production",
                        "canAccess": True,
                        "deletedAt": None,
                        "unmergedChangesCount": 0,
                    }
                }
            ]
        },
        "services": {"edges": [{"node": service} for service in _services(scenario)]},
    }
    print(json.dumps(project, indent=2))


def _printed_status(status: str) -> str:
    """`format!("{:?}", status)` of the CLI's generated enum."""
    return status if status in KNOWN_STATUSES else f'Other("{status}")'


def _deployment_list(argv: list[str], scenario: dict[str, Any], earlier: list[list[str]]) -> None:
    _authorized(argv, scenario)
    service = _option(argv, "--service") or ""
    if not any(service.lower() == s["name"].lower() or service == s["id"] for s in _services(scenario)):
        _fail(f"Service '{service}' not found")
    listing = [{"id": PREVIOUS_ID, "status": "SUCCESS", "createdAt": "2026-11-26T10:00:00Z", "meta": {}}]
    uploads = [index for index, call in enumerate(earlier) if call[:1] == ["up"]]
    if uploads:
        polls = sum(1 for call in earlier[uploads[-1] :] if call[:2] == ["deployment", "list"])
        if polls < scenario.get("listing_failures", 0):
            _fail("Failed to fetch: error sending request for url (https://backboard.railway.com/graphql/v2)")
        statuses = scenario["statuses"]
        status = statuses[min(polls - scenario.get("listing_failures", 0), len(statuses) - 1)]
        listing.insert(
            0,
            {
                "id": DEPLOYMENT_ID,
                "status": _printed_status(status),
                "createdAt": "2026-11-27T10:00:00Z",
                "meta": {},
            },
        )
    limit = int(_option(argv, "--limit") or 20)
    if "--json" in argv:
        print(json.dumps(listing[:limit], indent=2))
    else:
        for deployment in listing[:limit]:
            print(f"  {deployment['id']} | {deployment['status']}")


def _up(argv: list[str], scenario: dict[str, Any]) -> None:
    _authorized(argv, scenario)
    service = _option(argv, "--service")
    if not any(service in (s["name"], s["id"]) for s in _services(scenario)):
        _fail_as(argv, "Service not found")
    if scenario.get("upload", "ok") == "rejected":
        _fail_as(argv, UPLOAD_REJECTED, "UPLOAD_FAILED")
    if "--json" in argv and "--detach" in argv:
        print(json.dumps({"deploymentId": DEPLOYMENT_ID, "logsUrl": LOGS_URL}))
    else:
        print(f"  Build Logs: {LOGS_URL}")


def _find_iac_file() -> Path | None:
    for directory in [Path.cwd(), *Path.cwd().parents]:
        candidate = directory / ".railway" / "railway.py"
        if candidate.is_file():
            return candidate
    return None


def _config_apply(argv: list[str], scenario: dict[str, Any]) -> None:
    _authorized(argv, scenario)
    if "--yes" not in argv:
        _fail("Run `railway config apply --yes` to apply changes non-interactively.")
    file = _find_iac_file()
    if file is None:
        _fail("Railway configuration is not initialized. Run `railway config init` first.")
    # The CLI evaluates the file with whatever `python3` is on PATH.
    script = RENDER_SCRIPT if scenario["apply"] != "broken" else "raise SystemExit('ModuleNotFoundError')"
    evaluated = subprocess.run(
        ["python3", "-c", script, str(file)], capture_output=True, text=True, check=False
    )
    if evaluated.returncode != 0:
        _fail(f"python3 failed to evaluate IaC file.\n{evaluated.stderr.strip()}")
    if scenario["apply"] == "destructive" and "--confirm-destructive" not in argv:
        _fail(
            "Destructive Railway configuration changes require explicit confirmation. Review `railway "
            "config plan`, then re-run with `railway config apply --confirm-destructive` if the removals "
            "are expected."
        )
    print("Your Railway configuration is already up to date.")


def _logs(argv: list[str], scenario: dict[str, Any]) -> None:
    _authorized(argv, scenario)
    kind = "build" if "--build" in argv else "deploy"
    print(f"{kind} log line 1 of {DEPLOYMENT_ID}\n{kind} log line 2 of {DEPLOYMENT_ID}")


def main(argv: list[str]) -> None:
    scenario = json.loads(Path(os.environ["FAKE_RAILWAY_SCENARIO"]).read_text(encoding="utf-8"))
    log = Path(os.environ["FAKE_RAILWAY_CALLS"])
    earlier = calls(log)
    with log.open("a", encoding="utf-8") as file:
        file.write(json.dumps({"argv": argv}) + "\n")
    if scenario["version"] is None:
        # bin/railway.js of @railway/cli when its postinstall never downloaded the binary.
        _fail("railway: could not find the CLI binary at .../node_modules/@railway/cli/bin/railway", 127)
    if argv in (["--version"], ["-V"]):
        print(f"railway {scenario['version']}")
    elif argv[:1] == ["status"]:
        _status(argv, scenario)
    elif argv[:2] == ["deployment", "list"]:
        _deployment_list(argv, scenario, earlier)
    elif argv[:1] == ["up"]:
        _up(argv, scenario)
    elif argv[:2] == ["config", "apply"]:
        _config_apply(argv, scenario)
    elif argv[:1] == ["logs"]:
        _logs(argv, scenario)
    else:
        _fail(f"error: unexpected arguments {argv}", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
