"""A stand-in for the Railway CLI, for running .ci/deploy in tests.

It answers the commands .ci/deploy uses with the outputs and exit statuses of the real CLI's source
(railwayapp/cli: src/commands/up.rs, deployment.rs, config/, logs.rs; the npm package's bin/railway.js), as a
scenario file says. Tests install it on PATH as `railway` (see `install`), and read back every call it got.

Scenario (JSON, the file FAKE_RAILWAY_SCENARIO names):
  version      what `railway --version` reports; null: the npm install script never ran, so the shim exits 127
  token        the only RAILWAY_TOKEN Railway accepts
  service      the only service in the token's environment
  apply        "ok", "destructive" (plan removes something) or "broken" (the file does not evaluate)
  statuses     the statuses the new deployment goes through, one per `deployment list` after the upload; the
               last one repeats
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


def _authorized(scenario: dict[str, Any]) -> None:
    if os.environ.get("RAILWAY_TOKEN") != scenario["token"]:
        _fail(
            "Unauthorized. Please check that your RAILWAY_TOKEN is valid and has access to the resource "
            "you're trying to use."
        )


def _deployment_list(argv: list[str], scenario: dict[str, Any], earlier: list[list[str]]) -> None:
    _authorized(scenario)
    service = _option(argv, "--service") or ""
    if service.lower() != scenario["service"].lower():
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
            0, {"id": DEPLOYMENT_ID, "status": status, "createdAt": "2026-11-27T10:00:00Z", "meta": {}}
        )
    limit = int(_option(argv, "--limit") or 20)
    if "--json" in argv:
        print(json.dumps(listing[:limit], indent=2))
    else:
        for deployment in listing[:limit]:
            print(f"  {deployment['id']} | {deployment['status']}")


def _up(argv: list[str], scenario: dict[str, Any]) -> None:
    _authorized(scenario)
    if _option(argv, "--service") != scenario["service"]:
        _fail("Service not found")
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
    _authorized(scenario)
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
    _authorized(scenario)
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
