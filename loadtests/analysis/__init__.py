"""Pure computation on what a sweep gathered: histograms from scrapes, cells, results, findings.

Nothing here starts a process or opens a socket; everything is a function of files and records.
"""
