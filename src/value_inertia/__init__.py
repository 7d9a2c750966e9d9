"""value-inertia: value stability of language models across role-played personas."""
