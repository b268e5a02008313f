import pytest

from loadtests.project.cli import main
from tests.project.conftest import SAMPLE, SAMPLE_FIXTURE

pytestmark = pytest.mark.slow


def test_list_routes_shows_each_route_its_values_source_and_skips(capsys, prepared_sample):
    main([str(SAMPLE), "--fixture", SAMPLE_FIXTURE, "--list-routes"])
    out = capsys.readouterr().out
    assert f"environment: {prepared_sample.shim.environment.directory}" in out
    assert "database: a copy: default -> " in out
    lines = [line.split() for line in out.splitlines()]
    assert [
        "GET",
        "/articles/<int:pk>/",
        "article-detail",
        "expects",
        "200,",
        "weight",
        "1",
    ] in lines
    assert "values: pk=1 from mysite.Article.pk of its first row" in out
    assert ["GET", "/dashboard/", "dashboard", "skipped:", "needs", "a", "login"] in lines


def test_a_project_that_cannot_be_found_exits_with_the_reason(tmp_path):
    with pytest.raises(SystemExit, match="no settings module found"):
        main([str(tmp_path), "--list-routes"])
