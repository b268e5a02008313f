"""What runs inside Locust's processes: the sweep's measured windows."""
