"""The core every stage shares.

Configuration, errors, paths, artefact names, table I/O, redaction, the
protocol hash, the results contract and the metric registry.
"""
