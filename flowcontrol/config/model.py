"""Typed, immutable flow-control configs: one ``FunctionConfig`` per function.

The fields follow the platform's SDK function options, with durations already parsed to
integer nanoseconds and expressions kept as their source text. Instances are built by the
validator (``FunctionConfig.from_mapping`` or ``load_functions``), which guarantees every
documented range; constructing them by hand skips those checks.

``concurrency`` are the step limits (what ``concurrency`` has always meant: executing
steps hold a slot, a sleeping run holds nothing); ``run_concurrency`` is the run-level
limit of the server's ``{"fn": [...], "step": [...]}`` shape.

Our extension: ``steps``, a list of ``{"run": "2s"}`` / ``{"sleep": "10s"}`` items that
describe what one run does, so the simulator can tell how long concurrency slots are held.
A ``run`` step may add ``"fail": N``: its first N attempts fail (each after running its
duration) and are retried as the function's ``retries`` allow; N above ``retries`` fails
the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flowcontrol.time import NS_PER_S

__all__ = [
    "Batch", "Cancel", "ConcurrencyLimit", "ConfigError", "Debounce", "FunctionConfig",
    "Priority", "RateLimit", "RunConcurrency", "Singleton", "Step", "Throttle", "Timeouts",
    "Trigger",
]

Scope = Literal["fn", "env", "account"]
SingletonMode = Literal["skip", "cancel"]
StepKind = Literal["run", "sleep"]

IDEMPOTENCY_PERIOD_NS = 24 * 3600 * NS_PER_S
"""The platform turns ``idempotency`` into a 1-per-24h rate limit on its key."""


class ConfigError(ValueError):
    """Raised by ``from_mapping`` when a config has errors; ``.diagnostics`` lists them all."""

    def __init__(self, diagnostics: list[Any]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else None
        summary = f"{first.code} {first.message} at {first.path}" if first else "invalid config"
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(summary + more)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """An event trigger (``event`` with an optional filter ``expression``) or a ``cron``."""

    event: str | None = None
    expression: str | None = None
    cron: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConcurrencyLimit:
    """At most ``limit`` steps at once per value of ``key`` within ``scope`` (0 = no limit)."""

    limit: int
    key: str | None = None
    scope: Scope = "fn"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConcurrency:
    """At most ``limit`` runs in progress at once per value of ``key`` (the platform's
    ``concurrency.fn``, scope ``fn``): a slot taken when the run starts and held for its
    whole life, sleeps and waits included, given back when it ends however it ends."""

    limit: int
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Throttle:
    """GCRA on run starts: ``limit + burst`` at once, then one per ``period_ns / limit``."""

    limit: int
    period_ns: int
    burst: int = 0
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """Lossy GCRA on events: ``limit // 10 + 1`` at once, then one per ``period_ns / limit``."""

    limit: int
    period_ns: int
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Debounce:
    """Run once with the last event, ``period_ns`` after it (at most ``timeout_ns`` after
    the first)."""

    period_ns: int
    key: str | None = None
    timeout_ns: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Priority:
    """``run``: an expression giving a factor in seconds (clamped) that moves the run ahead."""

    run: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Singleton:
    """One run at a time per key: ``skip`` new runs or ``cancel`` the running one."""

    mode: SingletonMode = "skip"
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Collect up to ``max_size`` events per key, or until ``timeout_ns`` after the first."""

    max_size: int
    timeout_ns: int
    key: str | None = None
    if_expr: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """Cancel the run when ``event`` arrives (and ``if_expr`` holds), within ``timeout_ns``.

    ``match`` (SDK shorthand ``"data.x"``) is kept as written and also folded into
    ``if_expr`` as ``event.data.x == async.data.x``, as the SDK does."""

    event: str
    if_expr: str | None = None
    match: str | None = None
    timeout_ns: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Cancel a run still queued after ``start_ns`` or still running after ``finish_ns``."""

    start_ns: int | None = None
    finish_ns: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of a run (our extension): ``run`` holds a concurrency slot, ``sleep`` does not.

    ``fail`` (``run`` steps only): how many of its first attempts fail, deterministically.
    """

    kind: StepKind
    duration_ns: int
    fail: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionConfig:
    """One function's flow control, validated."""

    id: str
    name: str | None = None
    triggers: tuple[Trigger, ...] = ()
    concurrency: tuple[ConcurrencyLimit, ...] = ()
    run_concurrency: RunConcurrency | None = None
    throttle: Throttle | None = None
    rate_limit: RateLimit | None = None
    debounce: Debounce | None = None
    priority: Priority | None = None
    singleton: Singleton | None = None
    batch: Batch | None = None
    cancel_on: tuple[Cancel, ...] = ()
    idempotency: str | None = None
    timeouts: Timeouts | None = None
    retries: int | None = None
    steps: tuple[Step, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FunctionConfig:
        """Validate one function's config (SDK or registration field names) and build it.

        Raises ``ConfigError`` listing every error; warnings are not reported here
        (``flowcontrol.config.validate_data`` reports those)."""
        from flowcontrol.config.validate import build_function

        function, diagnostics = build_function(data)
        errors = [d for d in diagnostics if d.is_error]
        if errors or function is None:
            raise ConfigError(errors)
        return function

    @property
    def display_name(self) -> str:
        """``name`` when given, else ``id``."""
        return self.name or self.id

    @property
    def events(self) -> tuple[str, ...]:
        """Names of the events that trigger this function."""
        return tuple(t.event for t in self.triggers if t.event is not None)

    def effective_rate_limit(self) -> RateLimit | None:
        """The rate limit the platform applies: ``idempotency`` wins over ``rateLimit``."""
        if self.idempotency is not None:
            return RateLimit(limit=1, period_ns=IDEMPOTENCY_PERIOD_NS, key=self.idempotency)
        return self.rate_limit

    def function_limit(self) -> int | None:
        """The unkeyed fn-scoped concurrency limit, if any (0 counts as none)."""
        for c in self.concurrency:
            if c.key is None and c.scope == "fn" and c.limit > 0:
                return c.limit
        return None

    def keyed_concurrency(self) -> tuple[ConcurrencyLimit, ...]:
        """The custom concurrency keys (constraints that carry a key)."""
        return tuple(c for c in self.concurrency if c.key is not None)

    def run_duration_ns(self) -> int:
        """Sum of all step durations (0 without ``steps``)."""
        return sum(s.duration_ns for s in self.steps)
