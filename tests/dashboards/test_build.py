"""The generated files: current, byte-identical on rebuild, and consistent with the panels."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from dashboards import build, grafana, panels, promql

ROOT = build.PACKAGE_DIR.parent


def committed_dashboards() -> dict[str, dict]:
    return {
        path.stem: json.loads(path.read_text()) for path in sorted(build.GRAFANA_DIR.glob("*.json"))
    }


def test_committed_files_are_current():
    assert build.stale_files(build.generated_files()) == []


def test_rebuild_is_byte_identical():
    first, second = build.generated_files(), build.generated_files()
    assert first == second
    for path, content in first.items():
        assert path.read_bytes() == content.encode(), path


def test_check_mode_passes_on_the_committed_files():
    result = subprocess.run(
        [sys.executable, "-m", "dashboards.build", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_mode_names_a_stale_file(tmp_path):
    stale = tmp_path / "stale.json"
    stale.write_text("{}\n")
    files = {**build.generated_files(), stale: '{"a": 1}\n'}
    assert build.stale_files(files) == [stale]


def test_dashboard_json_is_sorted_and_ends_with_a_newline():
    for path in build.GRAFANA_DIR.glob("*.json"):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n", path


def test_every_panel_function_is_on_a_dashboard_and_every_target_is_a_panel_query():
    defined = {q.expr for panel in panels.all_panels().values() for q in panel.queries}
    used_keys = {panel.key for make in grafana.DASHBOARDS for panel in make().panels()}
    assert used_keys == set(panels.all_panels())
    for uid, dashboard in committed_dashboards().items():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                assert target["expr"] in defined, (uid, panel["title"])


@pytest.mark.parametrize("uid", ["django-red", "django-runtime", "load-test"])
def test_dashboard_shape(uid):
    dashboard = committed_dashboards()[uid]
    assert dashboard["uid"] == uid
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["type"] == "query"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert 0 not in ids
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            used = set(re.findall(r"\$(?!__)(\w+)", target["expr"]))
            assert used <= set(variables), (panel["title"], used)
            assert 'job="$job"' in target["expr"] or 'job="$locust_job"' in target["expr"]


def test_red_dashboard_repeats_a_row_per_route():
    dashboard = committed_dashboards()["django-red"]
    rows = [panel for panel in dashboard["panels"] if panel["type"] == "row"]
    assert [row.get("repeat") for row in rows] == [None, "route"]
    route = next(v for v in dashboard["templating"]["list"] if v["name"] == "route")
    assert route["multi"]
    assert route["includeAll"]
    assert route["allValue"] == ".*"
    kinds = {panel["type"] for panel in dashboard["panels"]}
    assert {"timeseries", "heatmap"} <= kinds


def test_load_test_dashboard_puts_locust_beside_the_server():
    dashboard = committed_dashboards()["load-test"]
    assert {v["name"] for v in dashboard["templating"]["list"]} == {
        "datasource",
        "job",
        "locust_job",
        "route",
    }
    comparisons, *pairs = grafana.load_test().sections
    for make in comparisons.panels:
        assert make().variables >= {promql.JOB, promql.LOCUST_JOB}
    for section in pairs:
        left, right = (make() for make in section.panels)
        assert left.variables == {promql.LOCUST_JOB}, section.title
        assert promql.LOCUST_JOB not in right.variables, section.title


def test_provisioning_points_at_the_dashboards():
    provider = (build.PROVISIONING_DIR / "dashboards" / build.PROVISIONING_FILE).read_text()
    assert f"path: {build.GRAFANA_MOUNT}" in provider
    datasource = (build.PROVISIONING_DIR / "datasources" / build.PROVISIONING_FILE).read_text()
    assert "type: prometheus" in datasource
    assert build.PROMETHEUS_URL in datasource


def test_provisioning_adds_to_a_users_own():
    """One file per kind, named for the lab, to drop beside a user's files; never the default
    datasource; dashboards for import outside the folder the provider loads."""
    for kind in ("datasources", "dashboards"):
        assert [p.name for p in (build.PROVISIONING_DIR / kind).iterdir()] == [
            build.PROVISIONING_FILE
        ]
    datasources = yaml.safe_load(
        (build.PROVISIONING_DIR / "datasources" / build.PROVISIONING_FILE).read_text()
    )["datasources"]
    assert [d.get("isDefault") for d in datasources] == [False]
    assert not build.IMPORT_DIR.is_relative_to(build.GRAFANA_DIR)


def test_import_files_ask_for_the_datasource():
    """The import form asks for a Prometheus; the dashboard starts on the one chosen there."""
    for make in grafana.DASHBOARDS:
        spec = make()
        provisioned = json.loads((build.GRAFANA_DIR / f"{spec.uid}.json").read_text())
        imported = json.loads((build.IMPORT_DIR / f"{spec.uid}.json").read_text())
        (wanted,) = imported.pop("__inputs")
        assert wanted["type"] == "datasource"
        assert wanted["pluginId"] == "prometheus"
        variable = next(
            v for v in imported["templating"]["list"] if v["name"] == grafana.DATASOURCE_VARIABLE
        )
        assert variable.pop("current")["value"] == "${" + wanted["name"] + "}"
        assert imported == provisioned


def test_duplicate_panel_keys_are_refused(monkeypatch):
    monkeypatch.setattr(panels, "PANELS", (panels.request_rate, panels.request_rate))
    with pytest.raises(ValueError, match="request_rate"):
        panels.all_panels()


def test_undefined_variables_are_refused():
    with pytest.raises(ValueError, match="nope"):
        grafana.variables({"job", "nope"})
