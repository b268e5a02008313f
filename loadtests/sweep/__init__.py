"""``make bench``: server kinds x worker counts x scenarios, measured, then reported.

    python -m loadtests.sweep                      # run: the default profile, ~5 min on 2 cores
    python -m loadtests.sweep --profile full       # more users, longer windows, every phase
    python -m loadtests.sweep --cell gunicorn-gthread:4:sync-api --duration 10 --repeats 3
    python -m loadtests.sweep capacity --capacity-match db    # the capacity map alone (λ*)
    python -m loadtests.sweep server-life --profile full      # in-flight cost, slow clients
    python -m loadtests.sweep render reports/latest           # rebuild a report, run nothing

The commands and their options (``cli.Config``); the run (``main``): each run of a cell starts
a fresh server (``mysite.launcher``), the upstream if it needs one, and Locust, warms up,
measures windows and stops everything; the runs of the cells are interleaved, and the cells
are analysed once, when the runs end (also after Ctrl-C, a time limit or a failure). Then the
phases: the database paths side by side (``db_compare``), the capacity map (``capacity``),
the server's life (``serverlife``); ``results.json`` is rewritten after each step, and
``summary.md`` and ``report.html`` are rendered from it at the end. Load goes to loopback only
unless ``--host`` names another host with ``--allow-remote-host``. What plugs into a run
(``hooks.RunHooks``): a throwaway Prometheus scraping every cell, when one is installed.
"""
