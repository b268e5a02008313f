"""The harness itself (issue 6, item 5 and the end of item 6): the sweep, run as a person runs it.

- Ctrl-C mid-sweep: SIGINT to the sweep's process group (what a terminal sends), while a cell
  is under load. Every process the sweep started is gone, what was measured is kept, the
  reports are rendered, and the message says what happened.
- A server that never becomes ready (one that hangs, one that exits first): its cell is
  recorded as failed with the reason, the sweep goes on to the next cell, and nothing is left.
- No remote load target without ``--allow-remote-host``: the sweep refuses before it opens a
  socket, resolves a name or starts a process.

Each live test's sweep has its process tree watched (psutil) in the background while it runs,
and every process the watch saw is checked gone as soon as the sweep exits. The three live
sweeps run side by side (the module's ``sweeps`` fixture), each in its own directories on its
own ports: most of each is waiting (on a hung server, a graceful stop, a two-second load), and
one after another they took 2 min 15 s of a loaded machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from loadtests.sweep import cli as sweep
from tests.loadtests import results_json as results
from tests.side_by_side import outcome, selected_cases, side_by_side

from .helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN = 3.0  # seconds after the sweep exits for every process it started to be gone
SHORT = ["--users", "8", "--warmup", "1", "--duration", "2"]


def sweep_env(**extra: str) -> dict[str, str]:
    """The environment of ``make bench``: the test runner's settings and metrics dir left out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR", "PYTHONPATH")
    }
    return env | {"PYTHONPATH": str(ROOT)} | extra


def role(cmdline: list[str]) -> str:
    """What a process of the sweep's tree is, from its command line."""
    text = " ".join(cmdline)
    for needle, name in (
        ("mysite.launcher", "launcher"),
        ("django check", "system check"),
        ("loadtests.upstream_server", "upstream"),
        ("locust", "locust"),
        ("prometheus", "prometheus"),
        ("gunicorn", "gunicorn"),
        ("resource_tracker", "resource tracker"),
        ("multiprocessing", "uvicorn worker"),
        ("uvicorn", "uvicorn"),
    ):
        if needle in text:
            return name
    return cmdline[0].rpartition("/")[2] if cmdline else "(no command line: exiting)"


@dataclass
class Seen:
    process: psutil.Process
    cmdline: list[str]  # the latest seen: the launcher replaces itself with the server
    first: float
    last: float

    @property
    def role(self) -> str:
        return role(self.cmdline)

    def alive(self) -> bool:
        """Still running (same pid *and* start time, so a reused pid is not confused with it)."""
        try:
            return self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


class TreeWatch:
    """Every descendant of ``pid``, polled in the background until ``stop()``."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.seen: dict[tuple[int, float], Seen] = {}
        self.metrics_dirs: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        with self._lock:
            now = time.monotonic()
            try:
                children = self.root.children(recursive=True)
            except psutil.Error:  # the sweep has exited: its children are no longer its own
                return
            for child in children:
                with contextlib.suppress(psutil.Error):
                    key = (child.pid, child.create_time())
                    cmdline = child.cmdline()
                    if key not in self.seen:
                        self.seen[key] = Seen(child, cmdline, now, now)
                        metrics_dir = child.environ().get("PROMETHEUS_MULTIPROC_DIR")
                        if metrics_dir:
                            self.metrics_dirs.add(metrics_dir)
                    seen = self.seen[key]
                    seen.last = now
                    if cmdline:
                        seen.cmdline = cmdline

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def roles(self) -> Counter:
        return Counter(s.role for s in self.seen.values())

    def alive(self) -> list[Seen]:
        return [s for s in self.seen.values() if s.alive()]

    def running_roles(self) -> Counter:
        return Counter(s.role for s in self.alive())


def holders(paths: list[str]) -> list[str]:
    """Processes (of any user we may look at) with a file open, or their cwd, under ``paths``."""
    found = []
    for process in psutil.process_iter(["pid", "name"]):
        with contextlib.suppress(psutil.Error):
            for path in [f.path for f in process.open_files()] + [process.cwd()]:
                if any(path == p or path.startswith(p.rstrip("/") + "/") for p in paths):
                    found.append(f"{process.pid} {process.info['name']}: {path}")
    return found


@contextlib.contextmanager
def running_sweep(args: list[str], out: Path, env: dict[str, str], watches: list[TreeWatch]):
    """``python -m loadtests.sweep ARGS`` in its own session, watched; the sweep always stopped."""
    stdout, stderr = out / "sweep.stdout", out / "sweep.stderr"
    with open(stdout, "w") as so, open(stderr, "w") as se:
        process = subprocess.Popen(
            [sys.executable, "-m", "loadtests.sweep", *args],
            cwd=ROOT,
            env=env,
            stdout=so,
            stderr=se,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    watch = TreeWatch(process.pid)
    watches.append(watch)
    try:
        yield process, watch, stdout, stderr
    finally:
        watch.stop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@dataclass
class Ended:
    """A sweep that exited, as seen when it did: what its test checks afterwards."""

    code: int
    out_text: str
    err_text: str
    run_dir: Path
    watch: TreeWatch
    started: float
    exited_at: float
    left: list[str]  # the processes of its tree still running GONE_WITHIN s after its exit
    last_gone: float  # seconds from its exit to the look that found every one gone
    holders: list[str]  # processes with a file open (or their cwd) under its directories
    metrics_dirs_left: list[str]
    interrupted_at: float = 0.0
    before: dict[str, int] = field(default_factory=dict)  # running when interrupted


def ended(
    code: int,
    watch: TreeWatch,
    streams: tuple[Path, Path],
    run_dir: Path,
    started: float,
    exited_at: float,
    **interruption,
) -> Ended:
    """The sweep just exited: at once, every process it started gone within GONE_WITHIN s, and
    nothing open under its run and metrics directories."""
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not watch.alive(), GONE_WITHIN, "every process of the sweep gone")
    left = [f"{s.process.pid} {s.role}: {' '.join(s.cmdline)}" for s in watch.alive()]
    last_gone = time.monotonic() - exited_at
    stdout, stderr = streams
    return Ended(
        code,
        stdout.read_text(),
        stderr.read_text(),
        run_dir,
        watch,
        started,
        exited_at,
        left,
        last_gone,
        holders([str(run_dir), *watch.metrics_dirs]),
        [d for d in watch.metrics_dirs if Path(d).exists()],
        **interruption,
    )


def assert_everything_gone(end: Ended, figure) -> None:
    """Every process seen in the sweep's tree ended within GONE_WITHIN s of the sweep's exit."""
    seen = len(end.watch.seen)
    assert seen, "the watch saw the sweep's processes"
    figure(
        "processes seen in the sweep's tree", f"{seen}: {dict(sorted(end.watch.roles().items()))}"
    )
    figure("processes left after exit", len(end.left), f"0 within {GONE_WITHIN:g} s")
    assert not end.left, end.left
    figure("last one gone, after the sweep's exit", f"{end.last_gone:.2f} s")


# --- Ctrl-C mid-sweep ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Interruption:
    """A sweep interrupted while one of its cells is under load."""

    cells: tuple[str, ...]
    options: tuple[str, ...]
    presses: int  # Ctrl-C once, or twice: again while the server stops (an impatient person)
    during: int  # the cell under load when interrupted: as many were measured before it

    def slug(self, index: int) -> str:
        server, workers, scenario = self.cells[index].split(":")
        return f"{server}-{workers}w-{scenario}"


INTERRUPTIONS = {
    # Interrupted in the second cell, which has the most processes: uvicorn's two workers, the
    # upstream, Locust (and Prometheus, when the sweep runs one).
    "once": Interruption(
        ("uvicorn:2:async-api", "uvicorn:2:async-fanout", "gunicorn-gthread:2:sync-api"),
        ("--repeats", "2", "--fanout", "5", *SHORT),
        presses=1,
        during=1,
    ),
    # A server that takes seconds to stop: a gthread worker with 2 threads and 16 users of 8 s
    # requests, whose graceful shutdown serves what it holds (up to gunicorn's 10 s). The
    # second Ctrl-C lands while the sweep waits for it.
    "twice": Interruption(
        ("gunicorn-gthread:1:sync-api", "uvicorn:1:async-api"),
        # The gthread cell plans far more than the default time limit (its model rate is 2 / 8 s),
        # and the sweep starts no run it cannot finish in time: this case interrupts it anyway.
        (
            "--repeats",
            "1",
            "--threads",
            "2",
            "--delay",
            "8",
            *SHORT,
            "--users",
            "16",
            "--time-limit",
            "1200",
            # Nothing of this case is Prometheus's: without it the sweep starts and ends sooner.
            "--no-prometheus",
        ),
        presses=2,
        during=0,
    ),
}


def under_load(case: Interruption, run_dir: Path, watch: TreeWatch) -> bool:
    """The cell ``case.during`` is under load, with what makes the case telling running."""
    # A run's windows file is written when its load ends (the cells are analysed at the end).
    written = [run_dir / "cells" / case.slug(i) / "run1.json" for i in range(len(case.cells))]
    if sum(path.exists() for path in written) != case.during:
        return False
    if not (run_dir / "cells" / case.slug(case.during) / "run1.ready").exists():
        return False
    running = watch.running_roles()
    if case.presses == 1:
        return min(running["upstream"], running["locust"]) >= 1 and running["uvicorn worker"] >= 2
    # Requests held by the gthread worker: at least 8 connections.
    for seen in watch.alive():
        if "gthread" in seen.cmdline:
            with contextlib.suppress(psutil.Error):
                held = [c for c in seen.process.net_connections("tcp") if c.status == "ESTABLISHED"]
                if len(held) >= 8:
                    return True
    return False


def interrupted(case: Interruption, tmp: Path, watches: list[TreeWatch]) -> Ended:
    """The sweep of ``case``, sent SIGINT to its process group (a terminal's Ctrl-C: the
    foreground group) while its cell ``case.during`` is under load."""
    out = tmp / "reports"
    run_dir = out / "cut"
    args = ["--out", str(out), "--run-id", "cut", *case.options]
    for cell in case.cells:
        args += ["--cell", cell]
    started = time.monotonic()
    with running_sweep(args, tmp, sweep_env(), watches) as (process, watch, stdout, stderr):
        wait_for(
            lambda: under_load(case, run_dir, watch) or process.poll() is not None,
            150,
            f"{case.during} cell(s) measured, the next one under load",
        )
        assert process.poll() is None, Path(stderr).read_text()[-3000:]
        watch.poll()
        before = dict(sorted(watch.running_roles().items()))
        interrupted_at = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        if case.presses == 2:
            # Again, once the sweep is stopping the server (which then logs the SIGTERM).
            cell_dir = run_dir / "cells" / case.slug(case.during)
            wait_for(
                lambda: (
                    any(
                        "Handling signal: term" in log.read_text()
                        for log in cell_dir.glob("gunicorn-*.log")
                    )
                    or process.poll() is not None
                ),
                20,
                "the sweep stopping the server",
            )
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=120)
        exited_at = time.monotonic()
        watch.stop()
    moments = {"interrupted_at": interrupted_at, "before": before}
    return ended(code, watch, (stdout, stderr), run_dir, started, exited_at, **moments)


# --- a server that never becomes ready -----------------------------------------------------------

NEVER_READY = "never-ready"
# Bounds the wait for the hanging server (generously: the server that serves must start within
# it too, on a busy machine).
READY_TIMEOUT = 15


def never_ready(tmp: Path, watches: list[TreeWatch]) -> Ended:
    """A sweep of a server that hangs, one that exits before it is ready, then one that serves.

    ``never_ready_settings`` (passed through the environment, as a person would) decides by
    the server kind; ``--ready-timeout`` bounds the wait for the hanging one.
    """
    out = tmp / "reports"
    args = [
        "--out",
        str(out),
        "--run-id",
        "never",
        "--ready-timeout",
        str(READY_TIMEOUT),
        "--cell",
        "gunicorn-gthread:1:sync-api",
        "--cell",
        "gunicorn-uvicorn:1:async-api",
        "--cell",
        "uvicorn:1:async-api",
        "--repeats",
        "1",
        *SHORT,
        "--no-prometheus",  # nothing here is Prometheus's ("once" runs one beside the sweep)
    ]
    env = sweep_env(DJANGO_SETTINGS_MODULE="tests.reliability.never_ready_settings")
    started = time.monotonic()
    with running_sweep(args, tmp, env, watches) as (process, watch, stdout, stderr):
        code = process.wait(timeout=200)
        exited_at = time.monotonic()
        watch.stop()
    return ended(code, watch, (stdout, stderr), out / "never", started, exited_at)


# --- the sweeps, side by side --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweeps(request, tmp_path_factory) -> Iterator[dict[str, Ended | BaseException]]:
    """Each selected live test's sweep, by name (an interruption's, or ``NEVER_READY``), all run
    side by side: what it did, or what went wrong driving it.

    Whatever the watches saw still running is killed at the module's end, after the tests' own
    checks: a failed test must not leave servers behind, and the checks must see what the
    sweeps left.
    """
    watches: list[TreeWatch] = []
    names = selected_cases(request, "sweeps", "name", NEVER_READY)
    dirs = {name: tmp_path_factory.mktemp(name) for name in names}

    def run(name: str) -> Ended:
        if name == NEVER_READY:
            return never_ready(dirs[name], watches)
        return interrupted(INTERRUPTIONS[name], dirs[name], watches)

    yield side_by_side(run, names)
    for watch in watches:
        watch.stop()
        for seen in watch.alive():
            with contextlib.suppress(psutil.Error):
                seen.process.kill()


# --- the live tests ------------------------------------------------------------------------------


@pytest.mark.live
@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", list(INTERRUPTIONS))
def test_ctrl_c_mid_sweep_stops_every_process_and_keeps_what_was_measured(name, sweeps, figure):
    """SIGINT to the sweep's process group while a cell is under load."""
    case, end = INTERRUPTIONS[name], outcome(sweeps[name])
    run_dir, out_text, err_text = end.run_dir, end.out_text, end.err_text
    figure("running when interrupted", end.before)
    figure("SIGINT to exit", f"{end.exited_at - end.interrupted_at:.2f} s", "< 60 s")
    assert end.code == 130, err_text[-3000:]
    assert end.exited_at - end.interrupted_at < 60
    assert "SIGINT: stopped every child process; keeping what was measured" in err_text
    assert "status interrupted" in out_text

    record = results.load(run_dir / "results.json")
    assert record["meta"]["status"] == "interrupted"
    assert record["meta"]["ended_at"]
    summary = (run_dir / "summary.md").read_text()
    assert "interrupted" in summary
    assert len(record["cells"]) == case.during
    for index, measured in enumerate(record["cells"]):
        server, workers, scenario = case.cells[index].split(":")
        assert (measured["server"], measured["workers"], measured["scenario"]) == (
            server,
            int(workers),
            scenario,
        )
        assert measured["requests"] > 0, measured
        assert measured["failures"] == 0, measured["errors"]
        assert scenario in summary
    kept = sum(c["requests"] for c in record["cells"])
    figure("cells kept", f"{case.during} of {len(case.cells)}, {kept} requests")
    assert (run_dir / "report.html").stat().st_size > 0
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()

    assert_everything_gone(end, figure)
    assert end.watch.metrics_dirs, "the servers' metrics directories were seen"
    assert not end.metrics_dirs_left, "metrics dirs removed"
    assert not end.holders
    if case.presses == 2:
        assert "SIGINT again: still stopping every child process" in err_text, "acknowledged"


@pytest.mark.live
@pytest.mark.timeout(240)
def test_a_server_that_never_becomes_ready_fails_its_cell_and_the_sweep_goes_on(sweeps, figure):
    """A server that hangs, one that exits before it is ready, then one that serves."""
    end = outcome(sweeps[NEVER_READY])
    run_dir, out_text, err_text = end.run_dir, end.out_text, end.err_text
    figure("sweep of 3 cells, 2 never ready", f"{end.exited_at - end.started:.1f} s", "< 200 s")
    assert end.code == 1, err_text[-3000:]

    record = results.load(run_dir / "results.json")
    assert record["meta"]["status"] == "complete-with-errors"
    hung, exited, served = record["cells"]

    # The hanging one: the port accepts, nothing answers, the wait is bounded.
    assert hung["server"] == "gunicorn-gthread"
    assert hung["flags"] == ["error"]
    assert f"was not ready within {READY_TIMEOUT} s" in hung["error"], hung["error"]
    assert "/healthz" in hung["error"]
    assert hung["rps"] is None
    assert hung["requests"] == 0
    # The one that exits: the launcher's child is gone, the log's tail says why.
    assert exited["server"] == "gunicorn-uvicorn"
    assert exited["flags"] == ["error"]
    assert "exited with" in exited["error"]
    assert "before it was ready" in exited["error"]
    assert "refuses to start" in exited["error"], "the tail of the server's log"
    # The sweep went on.
    assert served["server"] == "uvicorn"
    assert "error" not in served
    assert served["requests"] > 0, served
    assert served["failures"] == 0, served["errors"]
    figure("hanging server's cell", hung["error"].splitlines()[0])
    figure("exiting server's cell", exited["error"].splitlines()[0])
    figure("cell after them", f"{served['requests']} requests, {served['failures']} failures")

    for cell in (hung, exited):
        assert f"{cell['server']}/1/{cell['scenario']} failed: " in err_text
    summary = (run_dir / "summary.md").read_text()
    assert "refuses to start" in summary or "before it was ready" in summary
    assert "not ready within" in summary
    assert (run_dir / "report.html").stat().st_size > 0
    assert "status complete-with-errors" in out_text

    # It did hang with its port open: the master listened and booted a worker, which never
    # got past importing the app.
    (log,) = (run_dir / "cells" / "gunicorn-gthread-1w-sync-api").glob("gunicorn-gthread-*.log")
    assert "Listening at: http://127.0.0.1:" in log.read_text()
    assert "Booting worker" in log.read_text()
    hanging = [s for s in end.watch.seen.values() if "gthread" in s.cmdline]
    assert len(hanging) >= 2, "its master and worker were seen"
    lifetime = max(s.last for s in hanging) - min(s.first for s in hanging)
    # First seen as the launcher, before it became gunicorn: its own start counts too (25.1
    # to 26.4 s in all on a quiet machine, 30.2 and 31.7 s on a loaded one: 3.3 s under the
    # old bound of 35 s). One left running to the sweep's end would live about the whole
    # sweep (48 s on the loaded machine).
    slack = 15
    figure(
        "hanging server, first seen to last seen",
        f"{lifetime:.1f} s",
        f"< {READY_TIMEOUT} s (ready timeout) + 10 s (the launcher's grace) + {slack} s",
    )
    assert lifetime < READY_TIMEOUT + 10 + slack
    assert_everything_gone(end, figure)
    assert not end.metrics_dirs_left, "metrics dirs removed"
    assert not end.holders


# --- no remote load target without the flag ------------------------------------------------------

AUDIT_SITECUSTOMIZE = """\
import os, sys

_LOG = os.environ["HARNESS_AUDIT_LOG"]
_WATCHED = {
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "socket.sendto", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.system", "os.fork",
}


def _hook(event, args):
    if event in _WATCHED:
        with open(_LOG, "a") as log:
            log.write(f"{event} {args!r}\\n")


sys.addaudithook(_hook)
"""


@pytest.fixture
def audited(tmp_path) -> tuple[dict[str, str], Path]:
    """An environment whose Python logs every connection, name lookup and process it starts."""
    site = tmp_path / "audit"
    site.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT_SITECUSTOMIZE)
    log = tmp_path / "audit.log"
    env = sweep_env(HARNESS_AUDIT_LOG=str(log))
    env["PYTHONPATH"] = f"{site}{os.pathsep}{ROOT}"
    return env, log


def test_the_audit_sees_a_connection(audited):
    """The control: in that environment, a connection (to a closed loopback port) is logged."""
    env, log = audited
    code = (
        "import socket, contextlib\n"
        "with contextlib.suppress(OSError): socket.create_connection(('127.0.0.1', 9), 1)"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=30)
    assert "socket.connect" in log.read_text()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://10.1.2.3:8000", id="private-address"),  # not routable here
        pytest.param("http://loadtarget.invalid:8000", id="name"),  # .invalid never resolves
        pytest.param("http://127.0.0.1@10.1.2.3:8000", id="loopback-as-user"),  # host: remote
        pytest.param("http://[2001:db8::1]:8000", id="ipv6"),  # documentation range
        pytest.param("http://0.0.0.0:8000", id="any-address"),  # not a target to assume local
    ],
)
def test_a_remote_host_is_refused_before_any_connection(url, audited, tmp_path, figure):
    env, log = audited
    out = tmp_path / "reports"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.sweep", "--host", url, "--out", str(out)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    events = log.read_text().splitlines() if log.exists() else []
    figure("refused in", f"{elapsed:.2f} s, exit {done.returncode}, {len(events)} events", "< 20 s")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--host {url} is not loopback; add --allow-remote-host to load it" in done.stderr
    assert not events, "no connection, name lookup or process before the refusal"
    assert not out.exists(), "no run directory either"
    assert elapsed < 20


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.2:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://[::ffff:127.0.0.1]:8000",
    ],
)
def test_loopback_hosts_pass_the_argument_check(url):
    """Accepted by the argument check (nothing is run, so nothing is sent anywhere)."""
    assert sweep.parse_args(["--host", url]).host == url


def test_the_flag_lets_a_remote_host_through_the_argument_check():
    args = sweep.parse_args(["--host", "http://10.1.2.3:8000", "--allow-remote-host"])
    assert args.host == "http://10.1.2.3:8000"
    assert args.allow_remote_host
