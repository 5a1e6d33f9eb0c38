"""One process per test run that imported the bot once, and forks a bot process for any test that asks.

Importing aiogram costs seconds of CPU here. multiprocessing's forkserver pays that once per pytest-xdist
worker, and the workers' forkservers all start at about the same time, on the same two cores. This launcher
is shared by every worker of a run (the run's id names its socket): the first test that needs a bot process
starts it, and it ends shortly after the run's pytest process does, taking any bot still running with it.

A request is one JSON line (environment, working directory, arguments, stdout and stderr files); the launcher
forks, and answers with the child's pid, then, once the child has ended, with its exit status as
multiprocessing gives it (negative: killed by that signal). The child sets up what it was given and runs the
same main() as `python -m telegram_bot`. It is forked from a process that has no threads and no event loop.

Run as `python -P tests/support/launcher.py SOCKET OWNER_PID SYS_PATH_JSON`.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# What the children run, imported before any fork (uvloop: the loop main() sets up).
PRELOAD = ("telegram_bot.runner", "telegram_bot.__main__", "uvloop")
START_TIMEOUT_SECONDS = 60.0
# How often the launcher looks whether the run it serves is still there.
OWNER_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class Request:
    environment: dict[str, str]
    cwd: str
    arguments: list[str]
    stdout: str
    stderr: str


class LaunchedProcess:
    """A bot process the launcher forked: its pid, and its exit status once the launcher reports it."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._received = b""
        pid = self._line(wait=True)
        assert pid is not None  # a blocking read returns a line or raises
        self.pid = int(pid)
        self._exitcode: int | None = None

    @property
    def exitcode(self) -> int | None:
        if self._exitcode is None and (line := self._line(wait=False)) is not None:
            self._exitcode = int(line)
            self._connection.close()
        return self._exitcode

    def _line(self, *, wait: bool) -> str | None:
        while b"\n" not in self._received:
            try:
                chunk = self._connection.recv(64, 0 if wait else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return None
            if not chunk:
                raise RuntimeError("the bot launcher went away (its log: launcher.log beside its socket)")
            self._received += chunk
        line, _, self._received = self._received.partition(b"\n")
        return line.decode()


def prepare() -> None:
    """Start this run's launcher unless it is running, without waiting: it imports while the tests start."""
    _ensure_started(_socket_path())


def launch(request: Request) -> LaunchedProcess:
    """Fork a bot process from this run's launcher, starting the launcher first if no test has yet."""
    path = _socket_path()
    connection = _connect(path, _ensure_started(path))
    connection.sendall(json.dumps(request.__dict__).encode() + b"\n")
    return LaunchedProcess(connection)


def _socket_path() -> Path:
    # Shared by the workers of one pytest-xdist run; a run without workers has a launcher of its own.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    return Path(tempfile.gettempdir()) / f"telegram-bot-launcher-{os.getuid()}-{run}" / "socket"


def _ensure_started(path: Path) -> int:
    """The launcher's pid: the running one's, or that of one started now."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with (path.parent / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker starts it; the others find it started
        pid_file = path.parent / "pid"
        if pid_file.exists() and _alive(pid := int(pid_file.read_text())):
            return pid
        pid = _spawn(path)
        pid_file.write_text(str(pid))
        return pid


def _connect(path: Path, launcher: int) -> socket.socket:
    """Connect once it listens (it may still be importing)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        connection = socket.socket(socket.AF_UNIX)
        try:
            connection.connect(str(path))
        except OSError:
            connection.close()
            if not _alive(launcher) or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the bot launcher did not start; see {path.parent / 'launcher.log'}"
                ) from None
            time.sleep(0.02)
        else:
            return connection


def _spawn(path: Path) -> int:
    # The run's pytest process: a worker's parent, or this process when there are no workers.
    owner = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
    path.unlink(missing_ok=True)
    descriptor = os.open(path.parent / "launcher.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # Spawned, not a subprocess.Popen: it outlives the worker that started it, and nobody waits for it.
        # -P, then this process's sys.path: the children import the bot's code from where the tests did (the
        # compatibility gate runs a previous release's tests, with its own code, in a folder of their own).
        return os.posix_spawn(
            sys.executable,
            [sys.executable, "-P", __file__, str(path), str(owner), json.dumps(sys.path)],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, descriptor, 1),
                (os.POSIX_SPAWN_DUP2, descriptor, 2),
            ],
            setsid=True,  # not stopped by a Ctrl-C meant for pytest: it follows the run instead
        )
    finally:
        os.close(descriptor)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # not this process's child: kill() below tells
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False  # this process's child, and it has ended
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the number is someone else's by now
        return False
    return True


# The launcher itself


def serve(path: Path, owner: int, search_path: list[str]) -> None:
    sys.path[:] = search_path
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(module)
    gc.freeze()  # the children share what is imported: a collection in one would copy every page it touches
    wakeup_r, wakeup_w = os.pipe()
    os.set_blocking(wakeup_w, False)
    signal.set_wakeup_fd(wakeup_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the loop up: children are reaped below
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path.with_suffix(".binding")))
    listener.listen(64)
    path.with_suffix(".binding").rename(path)  # connectable only once it listens
    waiting: dict[int, socket.socket] = {}  # pid -> the connection that asked for it
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        selector.register(wakeup_r, selectors.EVENT_READ)
        try:
            while _alive(owner):
                for key, _ in selector.select(OWNER_CHECK_SECONDS):
                    if key.fileobj is listener:
                        _accept(listener, waiting, keep=(listener.fileno(), wakeup_r, wakeup_w))
                    else:
                        os.read(wakeup_r, 4096)
                _report_exits(waiting)
        finally:
            for pid in waiting:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(path.parent, ignore_errors=True)


def _accept(listener: socket.socket, waiting: dict[int, socket.socket], keep: tuple[int, ...]) -> None:
    connection, _ = listener.accept()
    with connection.makefile("r", encoding="utf-8") as reader:
        request = Request(**json.loads(reader.readline()))
    pid = os.fork()
    if pid == 0:
        _run_child(request, close=[*keep, *(c.fileno() for c in waiting.values()), connection.fileno()])
    connection.sendall(f"{pid}\n".encode())
    waiting[pid] = connection


def _report_exits(waiting: dict[int, socket.socket]) -> None:
    for pid in list(waiting):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            connection = waiting.pop(pid)
            with contextlib.suppress(OSError):  # the test may have stopped listening
                connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            connection.close()


def _run_child(request: Request, close: list[int]) -> None:
    """In the forked child: never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for descriptor in close:
            os.close(descriptor)
        code = _run_main(request)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - whatever it was, it goes to the child's stderr and the status
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run_main(request: Request) -> int:
    """The environment and files the test gave, then the command's main()."""
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.environment)
    for file, stream in ((request.stdout, sys.stdout), (request.stderr, sys.stderr)):
        stream.flush()
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(descriptor, stream.fileno())
        os.close(descriptor)
    from telegram_bot.__main__ import main  # preloaded: this only looks it up

    return main(request.arguments)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]))
