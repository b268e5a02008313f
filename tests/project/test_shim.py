import ast
import json
import subprocess

import pytest

from loadtests.project.shim import LAB_SOURCE, PACKAGE, PARENT_MODULES


def test_the_metrics_app_reaches_outside_itself_only_for_the_modules_the_shim_copies():
    # What lets it serve as django_async_lab.metrics where the project's own package is mysite.
    outside = set()
    for path in (LAB_SOURCE / "metrics").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                outside |= {a.name for a in node.names if a.name.split(".")[0] == "mysite"}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                outside |= {node.module} if node.module.split(".")[0] == "mysite" else set()
            elif isinstance(node, ast.ImportFrom) and node.level == 2:
                outside |= {f"..{node.module or a.name}" for a in node.names}
    assert outside <= {f"..{name.removesuffix('.py')}" for name in PARENT_MODULES}
    assert outside  # the check reads the imports it means to


@pytest.mark.slow
def test_the_probe_describes_the_sample_as_django_sees_it(prepared_sample):
    described = prepared_sample.description
    assert described.asgi_application == "mysite.asgi:application"
    # Named by its setting; the ASGI one by the layout startproject writes.
    assert described.wsgi_application == "mysite.wsgi:application"
    facts = {r["pattern"]: r for r in described.routes}
    assert facts["/articles/<int:pk>/"]["name"] == "article-detail"
    assert facts["/articles/<int:pk>/"]["values"]["values"] == {"pk": "1"}
    assert facts["/dashboard/"]["login"] is True
    assert facts["/articles/new/"]["login"] is False
    assert facts["/articles/new/"]["csrf"] is True
    assert facts["/home/"]["status"] == 301  # RedirectView.as_view(permanent=True)
    assert facts["/logout/"]["methods"] == ["POST", "OPTIONS"]
    admin = [r for r in described.routes if r["pattern"].startswith("/admin/")]
    # The admin's own, all but its login page; no row read for a route that is not loaded.
    assert {r["pattern"] for r in admin if not r["login"]} == {"/admin/login/"}
    assert all(r["values"] is None for r in admin)
    # The lab's /metrics is beside the project's URLconf, not one of its routes.
    assert "/metrics" not in facts


@pytest.mark.slow
def test_the_shim_runs_the_projects_settings_measured_on_a_migrated_copy(prepared_sample):
    shim = prepared_sample.shim
    script = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        "from mysite.models import Article;"
        "print(json.dumps([s.DEBUG, s.ALLOWED_HOSTS, s.MIDDLEWARE[0], s.MIDDLEWARE[1:],"
        " str(s.DATABASES['default']['NAME']), s.SECRET_KEY, Article.objects.count()]))"
    )
    answer = subprocess.run(
        [str(shim.environment.python), "-c", script],
        cwd=shim.project.root,
        env=shim.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    debug, hosts, first, rest, database, secret, articles = json.loads(answer)
    assert debug is False
    assert set(hosts) == {"127.0.0.1", "localhost", "[::1]"}
    assert first == f"{PACKAGE}.metrics.middleware.MetricsMiddleware"
    # The project's own middleware follow, in its order; its secret key is its own.
    assert rest[-1] == "django.contrib.messages.middleware.MessageMiddleware"
    assert secret == "sample-project-not-secret"
    assert database == str(shim.databases["default"])
    assert shim.databases["default"].parent == shim.environment.directory
    assert articles == 3  # the fixture the user named
    # Its static files collected there: with DEBUG off, its manifest storage needs them.
    assert (shim.environment.directory / "static" / "staticfiles.json").is_file()


@pytest.mark.slow
def test_a_parameter_takes_its_value_from_the_copys_rows_and_says_so(prepared_sample):
    routes = {r.pattern: r for r in prepared_sample.routes}
    detail = routes["/articles/<int:pk>/"]
    assert detail.path == "/articles/1/"
    assert detail.values_from == {"pk": "mysite.Article.pk of its first row"}
    assert routes["/dashboard/"].skip == "needs a login"
    assert routes["/logout/"].skip == "answers only POST, OPTIONS: name it in a routes file"
    own = [r for r in routes.values() if not r.pattern.startswith("/admin/")]
    assert [r.label for r in own if r.skip is None] == [
        "article-list",
        "article-detail",
        "article-new",
        "home",
    ]
