"""The command line (``flowcontrol validate|simulate|trace|demo``): the I/O layer.

Reads files and standard input, writes reports, reads the wall clock for nothing but
progress. May import every layer; nothing in the package imports it.
"""
