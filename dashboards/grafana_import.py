"""The dashboards for Grafana's own import (Dashboards > New > Import), into an existing Grafana.

The same JSON as the provisioned dashboards, plus what Grafana's import form reads: ``__inputs``
asks for a Prometheus datasource when importing, and the dashboard's ``datasource`` variable
starts on the one chosen there (``${DS_PROMETHEUS}``, replaced by the import). Nothing is made
the default datasource and nothing else in that Grafana changes.
"""

from __future__ import annotations

import json

from . import grafana

INPUT = "DS_PROMETHEUS"
PLUGIN = "prometheus"


def import_json(spec: grafana.DashboardSpec) -> str:
    dashboard = json.loads(grafana.render(spec))
    dashboard["__inputs"] = [
        {
            "name": INPUT,
            "label": "Prometheus",
            "description": "The Prometheus that scrapes the app (make observe: "
            "http://127.0.0.1:9090)",
            "type": "datasource",
            "pluginId": PLUGIN,
            "pluginName": "Prometheus",
        }
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["name"] == grafana.DATASOURCE_VARIABLE:
            chosen = f"${{{INPUT}}}"
            variable["current"] = {"selected": True, "text": chosen, "value": chosen}
    return json.dumps(dashboard, sort_keys=True, indent=2) + "\n"
