"""``python -m flowcontrol``: the command line. Does I/O (see ``flowcontrol.cli.main``)."""

from flowcontrol.cli.main import run

run()
