"""``make bench``: every server kind x worker count x scenario, measured, then reported.

    python -m loadtests.sweep                         # the default profile, ~5 min on 2 cores
    python -m loadtests.sweep --profile full          # more users, longer windows, fresh runs
    python -m loadtests.sweep --servers uvicorn --workers 1 2 --scenarios async-api sync-api
    python -m loadtests.sweep --cell gunicorn-gthread:4:sync-api --duration 10 --repeats 3
    python -m loadtests.sweep --distributed 2         # Locust master + 2 local worker processes
    python -m loadtests.sweep --render-only reports/latest
    python -m loadtests.sweep --capacity-only         # only the capacity map (open model, λ*)
    python -m loadtests.sweep --profile full --server-life-only   # in-flight cost, slow clients

Each cell starts a fresh server through ``mysite.launcher`` (wiped metrics directory), the
light upstream for the fan-out scenarios, and Locust; warms up; measures back-to-back windows;
stops everything. Then the capacity map (``sweep.capacity``): per configuration, a fresh
server and an open-model search in Locust for λ*, the highest arrival rate held within the SLO,
and the ceiling that binds it. In the full profile, the server-life phase (``sweep.serverlife``):
what an in-flight request costs a worker, and what slow clients do to normal users.
``reports/<run-id>/results.json`` is rewritten after every cell, and ``summary.md`` and
``report.html`` are rendered from it at the end, also after Ctrl-C or a failure. Load goes to
loopback only, unless ``--host`` names another host together with ``--allow-remote-host``; the
whole sweep stops after the profile's time limit.

When a ``prometheus`` binary is installed, a throwaway Prometheus scrapes every cell's app,
upstream and Locust each second, and the report adds the dashboards' panels of every cell, as
Prometheus answers their PromQL (``loadtests.prometheus``; ``--no-prometheus`` turns it off).
"""
