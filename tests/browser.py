"""Open an HTML page in headless Chromium and report console errors and plots that did not load.

Chromium is driven over the DevTools protocol on a pair of pipes (``--remote-debugging-pipe``:
commands on fd 3, answers on fd 4, each message a JSON text ended by a NUL byte), so nothing
listens on a port and only the standard library is needed. The page is loaded in a fresh
profile; errors are collected from the console (``console.error``/``console.assert``), uncaught
exceptions, and Chromium's log (a resource that failed to load). Once the page's ``load`` event
has fired, every ``<img>`` is decoded and every ``<svg>`` measured.

    result = check_page("reports/latest/report.html")
    assert result.ok, result.summary()
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--mute-audio",
)

# Runs in the page once it has loaded: decodes each image (a broken or empty one fails) and
# measures each top-level inline SVG (one with no size or no content did not render).
_INSPECT = """
(async () => {
  const images = await Promise.all([...document.images].map(async (img) => {
    let decoded = true;
    try { await img.decode(); } catch (e) { decoded = false; }
    return {src: (img.currentSrc || img.src).slice(0, 120), loaded: decoded && img.complete
            && img.naturalWidth > 0 && img.naturalHeight > 0};
  }));
  const svgs = [...document.querySelectorAll("svg")]
    .filter((svg) => !svg.parentElement.closest("svg"))
    .map((svg, index) => {
      const box = svg.getBoundingClientRect();
      return {id: svg.id || `svg[${index}]`, width: box.width, height: box.height,
              loaded: box.width > 0 && box.height > 0 && svg.childElementCount > 0};
    });
  return {images, svgs, title: document.title};
})()
"""


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


@dataclass
class PageCheck:
    url: str
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    svgs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plots(self) -> list[dict[str, Any]]:
        return [*self.images, *self.svgs]

    @property
    def not_loaded(self) -> list[str]:
        return [plot.get("src") or plot["id"] for plot in self.plots if not plot["loaded"]]

    @property
    def ok(self) -> bool:
        """No console error, at least one plot, and every plot loaded."""
        return not self.console_errors and bool(self.plots) and not self.not_loaded

    def summary(self) -> str:
        return (
            f"{self.url}: {len(self.images)} images, {len(self.svgs)} svgs, "
            f"not loaded: {self.not_loaded or 'none'}, "
            f"console errors: {self.console_errors or 'none'}"
        )


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError(
        "Chromium is not installed: run `scripts/ensure-system-packages chromium=chromium` "
        "(Debian: sudo apt-get install chromium)."
    )


class _Pipe:
    """The DevTools protocol over Chromium's pipes: commands out, answers and events in."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self.write_fd, self.read_fd, self.deadline = write_fd, read_fd, deadline
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.write_fd, data) :]
        return self.next_id

    def receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    raise BrowserError("Chromium closed its DevTools pipe")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        command_id = self.send(method, params, session)
        while True:
            message = self.receive()
            if message.get("id") == command_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, session: str) -> dict:
        for index, event in enumerate(self.events):
            if event["method"] == method and event.get("sessionId") == session:
                return self.events.pop(index)
        while True:
            message = self.receive()
            if message.get("method") == method and message.get("sessionId") == session:
                return message
            if "method" in message:
                self.events.append(message)


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        params = event.get("params", {})
        if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            text = " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])
            )
            errors.append(f"console.{params['type']}: {text}")
        elif event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            errors.append(f"uncaught: {exception.get('description') or details.get('text')}")
        elif event["method"] == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            where = f" ({entry['url']})" if entry.get("url") else ""
            errors.append(f"{entry.get('source', 'log')}: {entry.get('text')}{where}")
    return errors


def check_page(path: str | Path, timeout: float = 30.0, chromium: str | None = None) -> PageCheck:
    """Load ``path`` (a local HTML file) in headless Chromium and report what went wrong."""
    url = Path(path).resolve().as_uri()
    binary = chromium or chromium_binary()
    deadline = time.monotonic() + timeout
    to_chromium_read, to_chromium_write = os.pipe()
    from_chromium_read, from_chromium_write = os.pipe()
    # Chromium's ends go above 9 first, so that putting them on 3 and 4 (what Chromium reads
    # and writes) cannot overwrite one of them before it is copied. A tiny Python trampoline
    # does the copying: no preexec_fn (unsafe in a threaded process), no shell's fd limits.
    to_chromium_read, from_chromium_write = (
        _above_9(to_chromium_read),
        _above_9(from_chromium_write),
    )
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    trampoline = (
        "import os, sys; "
        f"os.dup2({to_chromium_read}, 3); os.dup2({from_chromium_write}, 4); "
        f"os.close({to_chromium_read}); os.close({from_chromium_write}); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    argv = [
        sys.executable,
        "-c",
        trampoline,
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        "about:blank",
    ]
    process = None
    log_path = Path(profile) / "chromium.log"
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                pass_fds=(to_chromium_read, from_chromium_write),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        os.close(to_chromium_read)
        os.close(from_chromium_write)
        to_chromium_read = from_chromium_write = -1
        pipe = _Pipe(to_chromium_write, from_chromium_read, deadline)
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page"):
            pipe.call(f"{domain}.enable", session=session)
        navigation = pipe.call("Page.navigate", {"url": url}, session=session)
        if navigation.get("errorText"):
            raise BrowserError(f"cannot open {url}: {navigation['errorText']}")
        pipe.wait_for("Page.loadEventFired", session)
        found = pipe.call(
            "Runtime.evaluate",
            {"expression": _INSPECT, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
        if "exceptionDetails" in found:
            raise BrowserError(f"inspecting the page failed: {found['exceptionDetails']}")
        value = found["result"]["value"]
        with contextlib.suppress(BrowserError, OSError):
            pipe.call("Browser.close")
        return PageCheck(
            url=url,
            title=value["title"],
            console_errors=_console_errors(pipe.events),
            images=value["images"],
            svgs=value["svgs"],
        )
    except BrowserError as exc:
        tail = log_path.read_text(errors="replace").splitlines()[-15:] if log_path.exists() else []
        raise BrowserError(f"{exc}; Chromium's log ends:\n" + "\n".join(tail)) from None
    finally:
        for fd in (to_chromium_read, from_chromium_write, to_chromium_write, from_chromium_read):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if process is not None:
            _stop(process)
        shutil.rmtree(profile, ignore_errors=True)


def _above_9(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    # Chromium's helper processes share its group; none may outlive the check.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
