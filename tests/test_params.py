"""Vocoder parameter specs: conversion, ranges, one-line errors, and every vocoder declares what it reads."""

import functools
import math

import pytest

from bench.errors import BenchError
from bench.params import ParamSpec, validate_params
from bench.vocoders.nn.neural import NEURAL_PARAMS, NeuralVocoder
from bench.vocoders.registry import vocoder_registry

SPECS = (
    ParamSpec("n", int, 3, minimum=0),
    ParamSpec("m", float, 0.5, minimum=0, below=1),
    ParamSpec("f", float, 100.0, above=0, maximum=200),
    ParamSpec("flag", bool, False),
    ParamSpec("mode", str, "a", choices=("a", "b")),
    ParamSpec("k", int, None, minimum=1, optional=True),
    ParamSpec("cfg", dict, None, optional=True),
)


@pytest.mark.parametrize("given, expected", [
    ({"n": 4.0}, {"n": 4}), ({"m": 0}, {"m": 0.0}), ({"f": 200}, {"f": 200.0}), ({"flag": "True"}, {"flag": True}),
    ({"flag": False}, {"flag": False}), ({"mode": "b"}, {"mode": "b"}), ({"k": None}, {"k": None}),
    ({"k": 2}, {"k": 2}), ({"cfg": {"x": 1}}, {"cfg": {"x": 1}}),
])
def test_accepted_values_are_converted(given, expected):
    out = validate_params("v", SPECS, given)
    assert out == expected and all(type(out[k]) is type(v) for k, v in expected.items())


@pytest.mark.parametrize("given, message", [
    ({"n": -1}, "v.n: must be an integer >= 0, got -1"),
    ({"n": 2.5}, "v.n: must be an integer >= 0, got 2.5"),
    ({"n": True}, "v.n: must be an integer >= 0, got True"),
    ({"n": None}, "v.n: must be an integer >= 0, got None"),
    ({"m": 1}, "v.m: must be a number >= 0 and < 1, got 1"),
    ({"m": math.nan}, "v.m: must be a number >= 0 and < 1, got nan"),
    ({"f": 0}, "v.f: must be a number > 0 and <= 200, got 0"),
    ({"flag": 1}, "v.flag: must be true or false, got 1"),
    ({"mode": "c"}, "v.mode: must be one of 'a', 'b', got 'c'"),
    ({"k": 0}, "v.k: must be an integer >= 1 or None, got 0"),
    ({"cfg": "x"}, "v.cfg: must be a dict or None, got 'x'"),
    ({"nope": 1}, "v.nope: unknown parameter (its parameters are n, m, f, flag, mode, k, cfg)"),
])
def test_rejected_values_name_the_rule(given, message):
    with pytest.raises(BenchError) as err:
        validate_params("v", SPECS, given)
    assert str(err.value) == message


def test_every_default_passes_its_own_spec():
    for entry in vocoder_registry():
        assert validate_params(entry.name, entry.params, entry.default_params) == entry.default_params


def test_neural_vocoders_declare_exactly_the_keys_they_accept():
    checked = 0
    for entry in vocoder_registry():
        cls = entry.factory.func if isinstance(entry.factory, functools.partial) else entry.factory
        if isinstance(cls, type) and issubclass(cls, NeuralVocoder):
            accepted = set(NEURAL_PARAMS) | set(cls.extra_params(object.__new__(cls)))
            assert {s.name for s in entry.params} == accepted, entry.name
            checked += 1
    assert checked >= 5


def test_builtin_vocoders_reject_what_their_spec_rejects():
    """The specs describe the vocoders' own checks (API users bypass the CLI): a value the spec rejects fails
    in the constructor too."""
    from bench.vocoders.base import LoadOptions

    gl = vocoder_registry().get("griffinlim")
    for bad in ({"iterations": -5}, {"momentum": 1.0}):
        with pytest.raises(BenchError):
            validate_params("griffinlim", gl.params, bad)
        with pytest.raises(ValueError):
            gl.factory(LoadOptions(params={**gl.default_params, **bad}))
