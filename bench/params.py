"""Vocoder parameters: each vocoder declares its knobs (type, range, default) so that user values are checked,
in one line, before any work, and stored in one canonical form (``iterations=32.0`` and ``=32`` are one render).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a dict"}


@dataclass(frozen=True)
class ParamSpec:
    """One vocoder parameter.

    Args:
        name: key in ``LoadOptions.params``.
        type: int, float, bool, str or dict; values are converted to it (an int is accepted for a float).
        default: value when the user gives none.
        help: what it does, in a few words.
        minimum, maximum: inclusive bounds of a number; ``above``/``below``: exclusive bounds.
        choices: the only accepted values.
        optional: None is accepted (its meaning belongs in ``help``).
    """

    name: str
    type: type
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple[Any, ...] | None = None
    optional: bool = False

    def rule(self) -> str:
        """The accepted values in words, e.g. ``an integer >= 0``."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            bounds = [f"{op} {v:g}" for op, v in ((">=", self.minimum), (">", self.above), ("<=", self.maximum),
                                                   ("<", self.below)) if v is not None]
            text = " ".join([_TYPE_WORDS[self.type], " and ".join(bounds)]).strip()
        return text + (" or None" if self.optional else "")

    def describe(self) -> str:
        """One line for listings: ``iterations=32 (an integer >= 0): Griffin-Lim iterations``."""
        return f"{self.name}={self.default!r} ({self.rule()})" + (f": {self.help}" if self.help else "")

    def check(self, value: Any) -> Any:
        """``value`` converted to :attr:`type`; ValueError (with :meth:`rule`) when it is not accepted."""
        if value is None and self.optional:
            return None
        out = self._convert(value)
        if self.choices is not None and out not in self.choices:
            raise ValueError(f"must be {self.rule()}, got {value!r}")
        if self.type in (int, float):
            if not math.isfinite(out) or any(
                    bad for bad in ((self.minimum is not None and out < self.minimum),
                                    (self.maximum is not None and out > self.maximum),
                                    (self.above is not None and out <= self.above),
                                    (self.below is not None and out >= self.below))):
                raise ValueError(f"must be {self.rule()}, got {value!r}")
        return out

    def _convert(self, value: Any) -> Any:
        wrong = ValueError(f"must be {self.rule()}, got {value!r}")
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise wrong
        if isinstance(value, bool):  # bool is an int subclass: True is not a valid iteration count
            raise wrong
        if self.type is int:
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise wrong
        if self.type is float:
            if isinstance(value, (int, float)):
                return float(value)
            raise wrong
        if not isinstance(value, self.type):
            raise wrong
        return value


def defaults(specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """``{name: default}`` of ``specs``."""
    return {s.name: s.default for s in specs}


def validate_params(vocoder: str, specs: Sequence[ParamSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` values of ``vocoder``'s parameters, checked against ``specs`` and converted.

    Raises BenchError (one line, naming ``vocoder.param``) for an unknown name or a value out of its rule.
    """
    by_name = {s.name: s for s in specs}
    out = {}
    for name, value in given.items():
        spec = by_name.get(name)
        if spec is None:
            known = f"its parameters are {', '.join(by_name)}" if by_name else "it has no parameters"
            raise BenchError(f"{vocoder}.{name}: unknown parameter ({known})")
        try:
            out[name] = spec.check(value)
        except ValueError as err:
            raise BenchError(f"{vocoder}.{name}: {err}") from None
    return out
