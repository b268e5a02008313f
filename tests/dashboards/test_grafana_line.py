"""One Grafana line for the whole lab: the grafana-foundation-sdk build pyproject.toml pins.

The SDK's version is ``<build timestamp>!<Grafana version>``; the epoch orders builds, not
Grafana lines, so only an exact pin names a line. The dashboards carry that line's schema, and
dashboards/README.md runs a Grafana of that line, on loopback, with a generated password.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from grafana_foundation_sdk.models.dashboard import Dashboard
from packaging.requirements import Requirement
from packaging.version import Version

from dashboards import build

ROOT = build.PACKAGE_DIR.parent
README = build.PACKAGE_DIR / "README.md"
SDK = "grafana-foundation-sdk"


def pinned_sdk() -> Requirement:
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    (requirement,) = (
        Requirement(entry)
        for group in groups.values()
        for entry in group
        if isinstance(entry, str) and Requirement(entry).name == SDK
    )
    return requirement


def grafana_line(version: Version) -> tuple[int, int]:
    return version.release[0], version.release[1]


def docker_command() -> str:
    """The README's Docker recipe: from ``docker run`` to the image."""
    found = re.search(r"docker run .*?grafana/grafana:\S+", README.read_text(), re.S)
    assert found, "dashboards/README.md has no `docker run ... grafana/grafana:<tag>`"
    return found.group(0)


def test_the_sdk_is_pinned_to_one_build_of_one_grafana_line():
    requirement = pinned_sdk()
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement}: a range follows the newest build"
    pinned = Version(specifier.version)
    assert pinned.epoch > 0, f"{requirement}: not a <build>!<Grafana version> release"
    assert len(pinned.release) >= 2, f"{requirement}: no Grafana line (a build of Grafana main)"
    assert Version(importlib.metadata.version(SDK)) == pinned


def test_the_dashboards_carry_the_schema_of_that_line():
    schema = Dashboard().schema_version
    for path in sorted(build.GRAFANA_DIR.glob("*.json")) + sorted(build.IMPORT_DIR.glob("*.json")):
        assert f'"schemaVersion": {schema},' in path.read_text(), path


def test_the_readme_names_that_line():
    line = grafana_line(Version(importlib.metadata.version(SDK)))
    text = README.read_text()
    assert f"**Grafana {line[0]}.{line[1]}**" in text
    tags = re.findall(r"grafana/grafana:(\S+)", text)
    assert tags, "dashboards/README.md runs no Grafana image"
    for tag in tags:
        assert grafana_line(Version(tag)) == line, f"grafana/grafana:{tag} is not Grafana {line}"


def test_the_readmes_grafana_listens_on_loopback_with_a_generated_password():
    command = docker_command()
    assert "-e GF_SERVER_HTTP_ADDR=127.0.0.1 " in command
    assert "--network host" in command  # so loopback is the host's, where Prometheus is
    assert not re.search(r"(-p|--publish)\s", command), "a published port listens beyond"
    # The password is passed by name, its value taken from the environment, never argv.
    assert re.search(r"-e GF_SECURITY_ADMIN_PASSWORD\s", command)
    assert "GF_SECURITY_ADMIN_PASSWORD=" not in command
    text = README.read_text()
    assert "GF_SECURITY_ADMIN_PASSWORD=\"$(python3 -c 'import secrets;" in text
    assert "admin/admin" not in text


def test_the_readme_mounts_what_the_provisioning_files_expect():
    command = docker_command()
    assert f"dashboards/grafana:{build.GRAFANA_MOUNT}:ro" in command
    for kind in ("datasources", "dashboards"):
        source = f"dashboards/grafana/provisioning/{kind}/{build.PROVISIONING_FILE}"
        target = f"/etc/grafana/provisioning/{kind}/{build.PROVISIONING_FILE}"
        assert f"{source}:{target}:ro" in command
