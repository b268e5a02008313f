"""Locust's route user (``make bench APP=...``): the request a project's route names, its
expected status checked, the route handed over in ``LAB_ROUTE``; absent when that is unset."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import typing
import urllib.parse

import pytest

from loadtests.scenarios import ROUTE_ENV, ROUTE_USER_CLASS, RouteLoad
from loadtests.sweep.generator import LOCUSTFILE
from mysite.launcher import LOOPBACK
from tests.loadtests.conftest import ROOT

ENV = {**os.environ, "LOCUST_EXPORTER_PORT": "0"}
ROUTE = RouteLoad(
    method="POST",
    path="/articles/new/",
    label="article-new",
    status=302,
    headers=(("X-Lab", "yes"),),
    form=(("body", "A first article"), ("title", "Hello")),
)


def test_a_route_travels_in_the_environment_unchanged():
    assert RouteLoad.from_env({ROUTE_ENV: ROUTE.to_env()}) == ROUTE
    assert RouteLoad.from_env({}) is None


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: typing.ClassVar[list[tuple[str, str, str, str]]] = []
    answer = 302

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.seen.append((self.command, self.path, self.headers.get("X-Lab", ""), body))
        self.send_response(self.answer)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_locust(host: str, stats, env: dict, *classes: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host]
    argv += ["-u", "1", "-r", "1", "-t", "8s", "--only-summary", "--json-file", str(stats)]
    return subprocess.run(
        [*argv, *classes], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.live
@pytest.mark.parametrize(("answer", "failing"), [(302, False), (200, True)])
def test_the_route_user_sends_the_route_and_checks_its_status(recorder, tmp_path, answer, failing):
    Recorder.answer = answer
    env = {**ENV, ROUTE_ENV: ROUTE.to_env()}
    done = run_locust(recorder, tmp_path / "stats", env, ROUTE_USER_CLASS)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert Recorder.seen, done.stderr[-2000:]
    method, path, header, body = Recorder.seen[0]
    assert (method, path, header) == ("POST", "/articles/new/", "yes")
    assert urllib.parse.parse_qs(body) == {"body": ["A first article"], "title": ["Hello"]}
    stats = json.loads((tmp_path / "stats.json").read_text())
    [row] = [r for r in stats if r["name"] == "/articles/new/"]
    assert (row["num_failures"] == row["num_requests"]) is failing
    assert row["num_failures"] == 0 or failing


@pytest.mark.live
def test_without_a_route_the_route_user_is_not_one_of_locust_s_classes(recorder, tmp_path):
    env = {k: v for k, v in ENV.items() if k != ROUTE_ENV}
    done = run_locust(recorder, tmp_path / "stats", env, ROUTE_USER_CLASS)
    assert done.returncode != 0
    assert "Unknown User(s): RouteUser" in done.stderr + done.stdout
    assert Recorder.seen == []
