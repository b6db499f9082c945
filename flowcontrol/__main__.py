"""``python -m flowcontrol``: the command line. Does I/O (see ``flowcontrol.cli``)."""

from flowcontrol.cli import run

run()
