"""Exact scaled-integer arithmetic on numpy arrays: the only arithmetic of the pure engines (commissions, MAM).

Pure: numpy, pandas and the standard library only (no Django), so both engines may import it.

Units: a quantity is an integer array plus a decimal ``scale`` known to the caller: the value is ``ints × 10**-scale``
(so micro-USD amounts are scale 6, lots are scale 4). An integer array is numpy ``int64`` when the exact bounds of
the operands prove that no value can overflow, and otherwise a numpy ``object`` array of Python ints (arbitrary
precision, slower, still vectorised by numpy's object loops). No float is ever created: bounds are checked with the
operands' exact integer maxima, never with logarithms or float estimates.

Rounding point: ``div_round`` is the one rounding operation, half-up with ties away from zero (the rule of
``core.money.quantize``; ``LINE_PLACES`` comes from there). Every other operation here is exact.

Invariants: ``decimals_to_ints`` refuses anything that is not an exact decimal at the requested scale (floats,
strings, NaN, infinities, or more decimal places than allowed) instead of rounding it; ``to_int64`` refuses a value
that does not fit in int64 instead of wrapping.
"""

from __future__ import annotations

from decimal import Decimal, Inexact, InvalidOperation, localcontext

import numpy as np
import pandas as pd

INT64_MAX = int(np.iinfo(np.int64).max)

# Enough digits for any product of the engine's inputs (a value of 10**18 at 12 decimal places is 30 digits).
_DECIMAL_PRECISION = 80


class ExactValueError(ValueError):
    """A value that cannot be represented exactly (not a decimal, too many places, out of range)."""


def pow10(n: int) -> int:
    """``10**n`` as a Python int (n >= 0)."""
    return 10**n


def max_abs(values: np.ndarray) -> int:
    """The largest absolute value in ``values`` as an exact Python int (0 when empty)."""
    if values.size == 0:
        return 0
    return max(abs(int(values.max())), abs(int(values.min())))


def as_big(values: np.ndarray) -> np.ndarray:
    """The same integers as an object array of Python ints (arbitrary precision)."""
    if values.dtype == object:
        return values
    return values.astype(object)


def shrink(values: np.ndarray) -> np.ndarray:
    """Back to int64 when every value fits; otherwise unchanged (object)."""
    if values.dtype != object:
        return values
    if max_abs(values) <= INT64_MAX:
        return values.astype(np.int64)
    return values


def to_int64(values: np.ndarray, *, what: str) -> np.ndarray:
    """int64 copy of ``values``; raise ``ExactValueError`` naming ``what`` if any value does not fit."""
    if values.dtype != object:
        return values.astype(np.int64, copy=False)
    if max_abs(values) > INT64_MAX:
        raise ExactValueError(f"{what}: a value exceeds the int64 range of the line storage")
    return values.astype(np.int64)


def _as_array(values: np.ndarray | int) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    return np.asarray(int(values), dtype=object if abs(int(values)) > INT64_MAX else np.int64)


def mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Exact elementwise product (int64 when the operands' maxima prove it fits)."""
    a, b = _as_array(a), _as_array(b)
    if a.dtype != object and b.dtype != object and max_abs(a) * max_abs(b) <= INT64_MAX:
        return a * b
    return as_big(a) * as_big(b)


def add(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Exact elementwise sum."""
    a, b = _as_array(a), _as_array(b)
    if a.dtype != object and b.dtype != object and max_abs(a) + max_abs(b) <= INT64_MAX:
        return a + b
    return as_big(a) + as_big(b)


def sub(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Exact elementwise difference."""
    a, b = _as_array(a), _as_array(b)
    if a.dtype != object and b.dtype != object and max_abs(a) + max_abs(b) <= INT64_MAX:
        return a - b
    return as_big(a) - as_big(b)


def mul_all(*factors: np.ndarray | int) -> np.ndarray:
    """Exact product of several factors, left to right."""
    result = _as_array(factors[0])
    for factor in factors[1:]:
        result = mul(result, factor)
    return result


def div_round(numerator: np.ndarray | int, denominator: np.ndarray | int) -> np.ndarray:
    """``numerator / denominator`` rounded half-up (ties away from zero); the denominator must be positive.

    The result is int64 when it fits, else an object array.
    """
    num, den = _as_array(numerator), _as_array(denominator)
    if den.size and int(den.min()) <= 0:
        raise ExactValueError("division by a non-positive number")
    if num.dtype != object and den.dtype != object and den.ndim == 0 and num.size:
        # Fast path: non-negative int64 with room for the half: floor((n + d // 2) / d) is half-up for odd and
        # even d alike (an exact half, possible only for even d, rounds up).
        divisor = int(den)
        if int(num.min()) >= 0 and int(num.max()) + divisor // 2 <= INT64_MAX:
            return (num + np.int64(divisor // 2)) // np.int64(divisor)
    if num.dtype == object or den.dtype == object:
        num, den = as_big(num), as_big(den)
    magnitude = np.abs(num)
    quotient = magnitude // den
    remainder = magnitude - quotient * den
    # remainder >= den - remainder is "twice the remainder reaches the divisor" without doubling (no overflow).
    quotient = np.where(remainder >= den - remainder, quotient + 1, quotient)
    result = np.where(num < 0, -quotient, quotient)
    if result.dtype == object:
        return shrink(result)
    return result.astype(np.int64, copy=False)


def rescale(values: np.ndarray, from_scale: int, to_scale: int) -> np.ndarray:
    """Change the scale of ``values``: exact when going finer, rounded half-up when going coarser."""
    if to_scale >= from_scale:
        return mul(values, pow10(to_scale - from_scale))
    return div_round(values, pow10(from_scale - to_scale))


def align(a: np.ndarray, a_scale: int, b: np.ndarray, b_scale: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Both arrays at the finer of the two scales (exact)."""
    scale = max(a_scale, b_scale)
    return rescale(a, a_scale, scale), rescale(b, b_scale, scale), scale


def min_scale(values: np.ndarray, scale: int) -> int:
    """The smallest scale at which every value of ``values`` (given at ``scale``) is still an integer.

    One pass: the trailing decimal zeros every value shares are those of their greatest common divisor.
    """
    if not values.size:
        return 0
    common = abs(int(np.gcd.reduce(values)))
    if common == 0:
        return 0
    current = scale
    while current > 0 and common % 10 == 0:
        common //= 10
        current -= 1
    return current


def reduce_scale(values: np.ndarray, scale: int) -> tuple[np.ndarray, int]:
    """Drop trailing decimal zeros shared by every value: smaller integers, fewer overflows later."""
    smallest = min_scale(values, scale)
    if smallest == scale:
        return values, scale
    divisor = pow10(scale - smallest)
    if values.dtype != object and divisor > INT64_MAX:
        return np.zeros_like(values), smallest  # only zeros are divisible by more than any int64
    reduced = values // divisor
    return shrink(reduced), smallest


def decimals_to_ints(
    values: pd.Series | np.ndarray, *, scale: int, what: str, allow_na: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Convert exact decimals (``Decimal`` or int) to integers at ``scale``; return ``(ints, na_mask)``.

    NA entries (None, NaN, pd.NA) are allowed only with ``allow_na`` and become 0 in ``ints``. A float, a string,
    a non-finite Decimal or a value with more than ``scale`` decimal places raises ``ExactValueError``.
    """
    array = np.asarray(values, dtype=object)
    if allow_na:
        na_mask = np.asarray(pd.isna(array), dtype=bool)
        if na_mask.any():
            array = array.copy()
            array[na_mask] = 0
    else:
        # No NA scan: None, NaN and pd.NA all fail the multiplication or the integer conversion below.
        na_mask = np.zeros(len(array), dtype=bool)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64), na_mask
    with localcontext() as context:
        context.prec = _DECIMAL_PRECISION
        context.traps[Inexact] = True
        try:
            scaled = array * Decimal(pow10(scale))
        except (TypeError, InvalidOperation) as exc:
            raise ExactValueError(
                f"{what}: expected Decimal values (never float, text or a missing value): {exc}"
            ) from exc
        try:
            try:
                ints = scaled.astype(np.int64)
            except OverflowError:
                # Rare: values beyond int64 at this scale keep full precision as Python ints.
                ints = np.array([int(value) for value in scaled], dtype=object)
        except (TypeError, ValueError, OverflowError, InvalidOperation) as exc:
            raise ExactValueError(f"{what}: not a finite decimal number (or missing): {exc}") from exc
        # astype/int() truncate towards zero, so |truncated| <= |exact| everywhere and the sums of magnitudes are
        # equal only if no value had a fractional part at this scale (one cheap pass instead of a comparison).
        negative = int(ints.min()) < 0
        magnitudes = np.abs(ints) if negative else ints
        if magnitudes.dtype != object and max_abs(magnitudes) * len(magnitudes) <= INT64_MAX:
            truncated_total = int(magnitudes.sum())
        else:
            truncated_total = as_big(magnitudes).sum()
        try:
            exact_total = (np.abs(scaled) if negative else scaled).sum()
        except Inexact as exc:
            raise ExactValueError(f"{what}: values too long to check exactly") from exc
        if exact_total != truncated_total:
            raise ExactValueError(f"{what}: more than {scale} decimal places")
    return ints, na_mask


def ints_to_decimals(values: np.ndarray, scale: int, na_value: int | None = None) -> np.ndarray:
    """Object array of ``Decimal`` with exactly ``scale`` places (None where the value is ``na_value``).

    Each distinct value is converted once (lines repeat rates, multipliers, lots and zero amounts millions of times).
    """
    if values.size == 0:
        return np.empty(0, dtype=object)
    codes, uniques = pd.factorize(values)
    quantum = Decimal(1).scaleb(-scale)
    uniques = np.asarray(uniques, dtype=object)
    missing = uniques == na_value if na_value is not None else None
    if missing is not None and missing.any():
        uniques[missing] = 0
    with localcontext() as context:
        context.prec = _DECIMAL_PRECISION
        decimals = uniques * quantum
    if missing is not None and missing.any():
        decimals[missing] = None
    return decimals[codes]
