"""The one launcher: argv per server kind, readiness, and no server outliving its starter."""

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from mysite.launcher import (
    SERVER_KINDS,
    ServerFailed,
    default_metrics_dir,
    managed_process,
    memory_backed_dir,
    runtime_parent,
    server_argv,
)
from mysite.shutdown import AT_DEFAULTS


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_every_kind_serves_the_right_app_with_the_asked_workers(kind):
    argv = server_argv(kind, workers=3, host="127.0.0.1", port=8123, threads=5, stop=AT_DEFAULTS)
    wsgi = kind in ("gunicorn-gthread", "granian-wsgi")
    app = "mysite.wsgi:application" if wsgi else "mysite.asgi:application"
    assert app in argv
    assert argv[argv.index("--workers") + 1] == "3"
    assert "127.0.0.1" in " ".join(argv)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown server kind"):
        server_argv("hypercorn", 1, "127.0.0.1", 8000, 1, AT_DEFAULTS)


def test_a_process_that_exits_early_fails_fast_with_its_log():
    started = time.monotonic()
    with (
        pytest.raises(ServerFailed, match="exited with 3") as raised,
        managed_process(
            "doomed",
            [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
            "http://127.0.0.1:9",
            ready_timeout=30,
        ),
    ):
        pass
    assert "boom" in str(raised.value)
    assert time.monotonic() - started < 15


@pytest.mark.live
def test_server_dies_with_its_starter_even_on_sigkill(request):
    code = textwrap.dedent(
        """
        import time
        from mysite.launcher import serve
        with serve("uvicorn", workers=2) as running:
            print(running.pid, flush=True)
            time.sleep(120)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as starter:
        server_pid = int(starter.stdout.readline())
        # The killed starter cannot remove the server's metrics directory: the test does.
        metrics_dir = psutil.Process(server_pid).environ()["PROMETHEUS_MULTIPROC_DIR"]
        os.kill(starter.pid, signal.SIGKILL)
    request.addfinalizer(lambda: shutil.rmtree(metrics_dir, ignore_errors=True))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(server_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(server_pid, signal.SIGKILL)
    pytest.fail("the server's process group outlived the process that started it")


def test_the_child_runs_no_library_look_up_between_fork_and_exec(tmp_path, monkeypatch):
    """find_library runs ldconfig in a subprocess and dlopen takes the loader's lock: in a child
    forked from a threaded parent either can deadlock. The look-up happens once, at import; the
    child still gets its parent-death signal (read back here with PR_GET_PDEATHSIG)."""
    import ctypes
    import ctypes.util

    marker = tmp_path / "looked-up-in-the-child"

    def forbidden(*args, **kwargs):
        marker.write_text(f"{os.getpid()}")
        raise OSError("library look-up after fork")

    monkeypatch.setattr(ctypes.util, "find_library", forbidden)
    monkeypatch.setattr(ctypes, "CDLL", forbidden)
    report = (
        "import ctypes, ctypes.util\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "signal = ctypes.c_int(0)\n"
        "libc.prctl(2, ctypes.byref(signal))\n"
        "print('pdeathsig', signal.value, flush=True)\n"
        "raise SystemExit(3)\n"
    )
    with (
        pytest.raises(ServerFailed, match="exited with 3") as raised,
        managed_process("child", [sys.executable, "-c", report], "http://127.0.0.1:9"),
    ):
        pass
    assert not marker.exists()
    assert f"pdeathsig {int(signal.SIGTERM)}" in str(raised.value)


def test_the_runtime_directory_is_used_only_when_private_and_ours(tmp_path, monkeypatch):
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    link = tmp_path / "link"
    link.symlink_to(private)
    refused = [open_to_all, link, "relative/run", tmp_path / "missing", ""]
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(private))
    assert runtime_parent() == private
    for value in refused:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(value))
        assert runtime_parent() == memory_backed_dir(), value
    if os.geteuid() == 0:  # another user's: only root can make one to try
        os.chown(private, 65534, 65534)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(private))
        assert runtime_parent() == memory_backed_dir()


def test_each_default_directory_is_new_private_and_unguessable(tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    made = [default_metrics_dir(8000) for _ in range(3)]
    assert len(set(made)) == 3
    for directory in made:
        info = os.lstat(directory)
        assert directory.parent == runtime
        assert stat.S_IMODE(info.st_mode) == 0o700
        assert info.st_uid == os.geteuid()
        assert directory.name.startswith("mysite-metrics-8000-")
