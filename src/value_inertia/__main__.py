"""``python -m value_inertia``: the same as the ``value-inertia`` command."""

from value_inertia.cli import main

if __name__ == "__main__":
    main()
