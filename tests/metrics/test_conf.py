"""Settings: histogram boundaries and allowed networks are refused at start-up when bad."""

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from mysite.metrics import conf, instruments

# OpenTelemetry's advisory boundaries for http.server.request.duration.
OTEL_ADVISORY = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def test_default_buckets_hold_opentelemetrys_and_finer_ones_below_5_ms():
    assert set(OTEL_ADVISORY) <= set(conf.DEFAULT_BUCKETS)
    assert [b for b in conf.DEFAULT_BUCKETS if b < 0.005]
    assert list(conf.DEFAULT_BUCKETS) == sorted(set(conf.DEFAULT_BUCKETS))


def test_instruments_use_the_configured_buckets():
    assert tuple(instruments.server_duration._upper_bounds[:-1]) == conf.buckets()


@override_settings(METRICS_BUCKETS=["0.001", "0.1", "2"])
def test_buckets_setting_overrides_the_defaults():
    assert conf.buckets() == (0.001, 0.1, 2.0)


@pytest.mark.parametrize(
    "buckets", [["abc"], ["0.2", "0.1"], ["0.1", "0.1"], ["-1", "1"], ["0", "1"], ["inf"], ["nan"]]
)
def test_bad_buckets_stop_the_app_with_the_reason(buckets):
    with override_settings(METRICS_BUCKETS=buckets), pytest.raises(ImproperlyConfigured) as error:
        conf.buckets()
    assert "METRICS_BUCKETS" in str(error.value)


@override_settings(METRICS_ALLOWED_CIDRS=["10.0.0.0/8", "not-a-network"])
def test_bad_network_is_a_system_check_error():
    errors = [e for e in run_checks() if e.id.startswith("metrics.")]
    assert [e.id for e in errors] == ["metrics.E001"]
    assert "not-a-network" in errors[0].msg


def test_good_settings_pass_the_checks():
    assert not [e for e in run_checks() if e.id.startswith("metrics.")]
