"""One-shot benchmarks beside the sweep: ``make bench-overhead``, ``-transport``, ``-fanout``."""
