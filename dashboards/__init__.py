"""What the lab shows: panel queries (one definition each), Grafana dashboards, Prometheus rules.

``panels`` holds every panel's PromQL; ``grafana`` renders them as dashboards and ``query``
evaluates the very same expressions through Prometheus's HTTP API for the benchmark's report.
``rules`` holds the recording and alert rules; ``build`` writes every generated file and checks
that the committed ones are current; ``observe`` runs a Prometheus for humans, and
``prometheus_server`` a throwaway one for tests and the sweep.
"""
