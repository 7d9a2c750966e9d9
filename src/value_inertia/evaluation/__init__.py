"""Asking the model.

Backends, the durable response store, the session that opens a model (key, store,
weights check, backend), the runner, batch transport, and the plan (requests,
cost, budget, spend).
"""
