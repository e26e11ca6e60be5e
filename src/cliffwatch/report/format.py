"""Numbers as text, once: every table cell and sentence formats through these."""

from __future__ import annotations

import math


def num_text(x: float, signed: bool = False, digits: int = 3) -> str:
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def ci_text(mean: float, low: float, high: float, signed: bool = False, digits: int = 3) -> str:
    """``mean [low, high]``; an undefined bound reads –."""
    return f"{num_text(mean, signed, digits)} [{num_text(low, signed, digits)}, {num_text(high, signed, digits)}]"


def money(currency: str, x: float) -> str:
    """Whole units from 100 up, cents below (a few synthetic samples cost less than one unit)."""
    return "–" if math.isnan(x) else f"{currency}{x:,.{0 if abs(x) >= 100 else 2}f}"


def short(x: float | None) -> str:
    """Three significant digits for terminal tables; – for undefined, ∞ for infinite."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.3g}"
