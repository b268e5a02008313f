"""The thresholds that flag a cell and the findings' judgements, each defined once.

The flags in ``assemble``, the sentences in ``findings`` and the report's definitions all read
them from here, so the prose says the value the code used.
"""

GENERATOR_SATURATED_PERCENT = 90.0  # of one core: Locust itself may be what limits the rate
SERVER_CPU_BOUND_PERCENT = 85.0  # of each core the server may use
# Of one core: the single-process upstream would be half-way to its limit.
UPSTREAM_BUSY_PERCENT = 50.0
# A cell at this share of a ceiling has reached it, given the windows' noise.
REACHED_SHARE = 0.9
# An open-model step whose generator lag p99 passes this did not start its requests when it
# meant to: its figures measure the generator as much as the server.
LAG_LIMIT_MS = 20.0
# A request that starts later than this after its intended instant is counted as late (it
# still runs, and its latency still counts from the intended instant).
LATE_MS = 10.0
