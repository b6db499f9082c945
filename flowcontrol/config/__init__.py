"""Flow-control configs: load, validate and lint them.

``validate_text(text, fmt, file=...)`` checks a JSON, YAML or TOML document and returns a
``Result`` (typed ``FunctionConfig`` values and ``Diagnostic`` values with stable codes,
paths and positions); ``lint.lint(result.entries)`` adds the interaction warnings;
``validate_data(data)`` does both for plain Python data; ``FunctionConfig.from_mapping(data)``
builds one function from plain data or raises ``ConfigError``. Reading files lives in
``flowcontrol.config.files`` (``load_functions(path)``), the only module here that does I/O.

May import: ``flowcontrol.time`` and ``expr``. Must not import the machines or anything
above (controller, sim, cli, adapters).
"""

from __future__ import annotations

from flowcontrol.config.codes import CODES, Severity
from flowcontrol.config.diagnostics import OUTPUT_FORMATS, Diagnostic, has_errors, render
from flowcontrol.config.model import (
    Batch,
    Cancel,
    ConcurrencyLimit,
    ConfigError,
    Debounce,
    FunctionConfig,
    Priority,
    RateLimit,
    RunConcurrency,
    Singleton,
    Step,
    Throttle,
    Timeouts,
    Trigger,
)
from flowcontrol.config.source import Node, SourceError, parse_text
from flowcontrol.config.validate import (
    Entry,
    Result,
    validate_data,
    validate_node,
    validate_text,
)

__all__ = [
    "CODES", "OUTPUT_FORMATS", "Batch", "Cancel", "ConcurrencyLimit", "ConfigError", "Debounce",
    "Diagnostic", "Entry", "FunctionConfig", "Node", "Priority", "RateLimit", "Result",
    "RunConcurrency", "Severity", "Singleton", "SourceError", "Step", "Throttle", "Timeouts",
    "Trigger",
    "has_errors", "parse_text", "render", "validate_data", "validate_node", "validate_text",
]
