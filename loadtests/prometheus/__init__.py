"""A Prometheus beside the sweep: a relay that gives moving targets fixed addresses, and the hook
that evaluates the dashboards' panels for every cell."""
