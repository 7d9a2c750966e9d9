"""Reading the answers.

The rule parser and the parsed-answers table (the LLM judge runs through the
evaluation runner).
"""
