"""The controller: the machines composed for a set of functions (``FlowControl``), with the
run lifecycle, admission order, key evaluation, fairness between keys and snapshots.

May import: ``flowcontrol.time``, ``flowcontrol.machines``, ``flowcontrol.config`` and
``expr``. Must not import ``flowcontrol.sim``, ``flowcontrol.cli`` or an adapter, and touches
no files, sockets or clocks: a snapshot is data, the host stores it.
"""
