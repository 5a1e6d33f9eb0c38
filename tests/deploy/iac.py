"""Render .railway/railway.py the way the Railway CLI evaluates it, offline.

The CLI (railwayapp/cli, src/iac/eval.rs) runs `python3 -c <script> <file>`: the script imports the file as a
module, takes `main` (or `Railway`, or `default`), calls it with no arguments if it is callable, calls
`.to_graph()` on the result if it has one, and prints the result as JSON. RENDER_SCRIPT does the same, so the
tests and the fake CLI read the graph the real CLI would read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IAC_FILE = ROOT / ".railway" / "railway.py"

RENDER_SCRIPT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("railway_iac_user", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
entry = getattr(module, "main", None) or getattr(module, "Railway", None) or getattr(module, "default", None)
graph = entry() if callable(entry) else entry
if hasattr(graph, "to_graph"):
    graph = graph.to_graph()
print(json.dumps(graph, default=str))
"""


class RenderError(Exception):
    """The IaC file did not render; the message carries what the interpreter printed."""


def render(python: str, file: Path = IAC_FILE) -> dict[str, Any]:
    """The graph `file` declares, evaluated by the interpreter `python` (the CLI uses `python3` on PATH)."""
    result = subprocess.run(
        [python, "-c", RENDER_SCRIPT, str(file)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"{python} failed to evaluate {file}:\n{result.stderr.strip()}")
    graph = json.loads(result.stdout)
    if not isinstance(graph, dict):
        raise RenderError(f"{file} rendered {type(graph).__name__}, not a project graph")
    return graph
