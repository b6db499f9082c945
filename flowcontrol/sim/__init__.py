"""The simulator: offline replay of an event trace through the controller (or its lean
pipeline), statistics, reports, comparisons, plots and synthetic traces.

May import everything below it (time, machines, config, controller) and ``expr``; never
``flowcontrol.cli``. Pure but for ``plot``, which writes an image: traces arrive as
iterables of events or of text lines that the caller (the command line) has opened.
"""
