"""From parsed answers to numbers.

Per-result analysis, metrics, the quality report, clusters, variant shifts, the
DVC summary and figures.
"""
