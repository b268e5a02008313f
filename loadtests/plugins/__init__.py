"""What runs inside Locust's processes: the sweep's measured windows, and the open model."""
