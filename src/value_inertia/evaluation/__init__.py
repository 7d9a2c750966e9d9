"""Asking the model.

Backends, the durable response store, the runner, batch transport, and the
plan (requests, cost, budget, spend).
"""
