"""Small statistics helpers in pure Python/numpy (the package does not depend on scipy)."""
from __future__ import annotations

import math


def _betainc_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction 1 + d1/(1 + d2/(1 + ...)) of the incomplete beta (modified Lentz)."""
    tiny = 1e-300
    f = 1.0
    c, d = 1.0, 0.0
    for m in range(1, 400):
        for j in (2 * m - 1, 2 * m):  # odd term d_{2k+1}, then even term d_{2k+2}, k = m - 1
            k = (j - 1) // 2
            if j % 2:  # d_{2k+1}
                coef = -(a + k) * (a + b + k) * x / ((a + 2 * k) * (a + 2 * k + 1))
            else:  # d_{2k+2} = (k+1)(b-k-1)x / ((a+2k+1)(a+2k+2))
                coef = (k + 1) * (b - k - 1) * x / ((a + 2 * k + 1) * (a + 2 * k + 2))
            d = 1.0 + coef * d
            d = tiny if abs(d) < tiny else d
            c = 1.0 + coef / c
            c = tiny if abs(c) < tiny else c
            d = 1.0 / d
            step = c * d
            f *= step
        if abs(step - 1.0) < 1e-15:
            break
    return f


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0):
        raise ValueError("a and b must be > 0")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - regularized_incomplete_beta(b, a, 1.0 - x)
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - log_beta) / a
    return front / _betainc_fraction(a, b, x)


def f_distribution_sf(f_value: float, dfn: float, dfd: float) -> float:
    """P(F > f_value) for an F distribution with ``dfn`` and ``dfd`` degrees of freedom."""
    if math.isnan(f_value):
        return 1.0
    if f_value <= 0.0:
        return 1.0
    if math.isinf(f_value):
        return 0.0
    return regularized_incomplete_beta(dfd / 2.0, dfn / 2.0, dfd / (dfd + dfn * f_value))
