"""The machines: one deterministic state machine per mechanism (GCRA throttle and rate
limit, concurrency, run semaphores, debounce, batch, singleton, priority queue).

Each machine owns its state, takes time from an injected clock and returns small frozen
decisions. May import: ``flowcontrol.time`` and each other's shared base. Must not import
anything above (config, controller, sim, cli, adapters) nor ``expr``, and does no I/O.
"""
