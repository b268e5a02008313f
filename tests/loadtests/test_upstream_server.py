"""The upstream the fan-out views call: its answers, its faults on demand, its own metrics."""

import httpx
import pytest

pytestmark = pytest.mark.live


@pytest.fixture
def client(upstream):
    with httpx.Client(base_url=upstream.url, timeout=10) as client:
        yield client


def test_api_echoes_task_id_and_delay(client):
    response = client.get("/api/", params={"task_id": "3", "delay": "0.01"})
    assert response.json() == {"message": "Hello World!", "task_id": "3", "delay": 0.01}


@pytest.mark.parametrize("delay", ["nan", "-1", "61", "x"])
def test_api_refuses_bad_delay(client, delay):
    assert client.get("/api/", params={"delay": delay}).status_code == 400


def test_status_answers_the_asked_status(client):
    assert client.get("/status/503/").status_code == 503


def test_reset_closes_without_an_answer(client):
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/reset/")


def test_fail_odd_fails_only_odd_task_ids(client):
    assert client.get("/fail-odd/", params={"task_id": "1", "delay": "0"}).status_code == 503
    assert client.get("/fail-odd/", params={"task_id": "2", "delay": "0"}).status_code == 200


def test_metrics_show_the_process_cpu(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "process_cpu_seconds_total" in response.text
