"""The applications behind the ``rnnkit`` command, one module per command (see ``rnnkit/cli.py``)."""
