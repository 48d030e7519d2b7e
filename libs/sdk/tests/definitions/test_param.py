"""Param and ParamsDict: JSON-schema-ish validation as Airflow does it."""

from __future__ import annotations

import pytest

from airlock.sdk import Param, ParamsDict, ParamValidationError


@pytest.mark.parametrize(
    ("param", "value"),
    [
        (Param(5, type="integer", minimum=0, maximum=10), 10),
        (Param("a", type="string", enum=["a", "b"]), "b"),
        (Param(None, type=["null", "string"]), None),
        (Param(1.5, type="number", exclusiveMinimum=1), 1.01),
        (Param("x", type="string", minLength=1, maxLength=3, pattern="^[a-z]+$"), "abc"),
        (Param([1], type="array", items={"type": "integer"}, minItems=1), [1, 2]),
        (Param({"a": 1}, type="object", required=["a"]), {"a": 2, "b": 3}),
        (Param("2024-01-01", type="string", format="date"), "2024-02-29"),
        (Param("2024-01-01T00:00:00Z", type="string", format="date-time"), "2024-01-01T10:00:00"),
        (Param(3, anyOf=[{"type": "integer"}, {"type": "string"}]), "three"),
        (Param(True, type="boolean"), False),
    ],
)
def test_valid_values(param: Param, value: object) -> None:
    assert param.resolve() == param.value
    assert param.resolve(value) == value


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        (Param(5, type="integer"), "5", "'5' is not of type 'integer'"),
        (Param(5, type="integer"), True, "not of type 'integer'"),
        (Param(5, type="integer", minimum=1), 0, "less than the minimum of 1"),
        (Param(5, type="integer", maximum=10), 11, "greater than the maximum of 10"),
        (Param("a", enum=["a", "b"]), "c", "'c' is not one of ['a', 'b']"),
        (Param("x", type="string", minLength=2), "x", "shorter than 2"),
        (Param("x", type="string", pattern="^[0-9]+$"), "x1", "does not match the pattern"),
        (Param("2024-01-01", format="date"), "2024-13-01", "is not a valid 'date'"),
        (Param([1], type="array", items={"type": "integer"}), [1, "2"], "at [1]"),
        (Param({}, type="object", required=["a"]), {}, "'a' is a required property"),
        (Param(None, type="string"), None, "None is not of type 'string'"),
    ],
)
def test_invalid_values(param: Param, value: object, message: str) -> None:
    with pytest.raises(ParamValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        param.resolve(value)


def test_missing_value() -> None:
    with pytest.raises(ParamValidationError, match="no default"):
        Param(type="string").resolve()
    assert Param(type="string").resolve("given") == "given"
    assert Param().resolve(suppress_exception=True) is None


def test_params_dict_wraps_and_validates() -> None:
    params = ParamsDict({"n": Param(1, type="integer", minimum=0), "plain": "value"})
    assert params["n"] == 1
    assert params["plain"] == "value"
    assert isinstance(params.get_param("plain"), Param)
    params["n"] = 7
    assert params.get_param("n").value == 7
    with pytest.raises(ParamValidationError, match="invalid value for param 'n'"):
        params["n"] = -1
    assert params.validate() == {"n": 7, "plain": "value"}
    assert params.dump() == {"n": 7, "plain": "value"}
    copied = params.copy()
    copied["n"] = 3
    assert params["n"] == 7


def test_params_dict_update_and_templating_access() -> None:
    params = ParamsDict({"a": 1})
    params.update({"b": Param(2, type="integer")}, c=3)
    assert dict(params) == {"a": 1, "b": 2, "c": 3}
    assert len(params) == 3
    assert "b" in params
