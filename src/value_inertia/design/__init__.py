"""The study design.

Questionnaires, personas and the prompts built from them (with their variants).
"""
