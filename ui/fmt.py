"""Number formatting for captions and the equation panel: few digits, but never '1.000' for 0.99998."""
from __future__ import annotations

import math


def num(v, digits: int = 3) -> str:
    """Compact number: 3 significant digits; values just below 1 keep enough decimals to show the gap
    (0.99998, not 1.00); inf -> '∞'; tiny / huge values in scientific notation."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    a = abs(v)
    if 0.99 <= a < 1:
        gap = 1 - a
        dec = min(12, max(digits, int(math.ceil(-math.log10(gap))) + 1))
        s = f"{a:.{dec}f}".rstrip("0")
        return ("-" if v < 0 else "") + s
    if a < 1e-3 or a >= 1e4:
        m, e = f"{v:.{max(digits - 1, 0)}e}".split("e")
        return f"{m}e{int(e)}"
    if a >= 1:
        dec = max(0, digits - 1 - int(math.floor(math.log10(a))))
        return f"{v:.{dec}f}"
    return f"{v:.{digits}g}"


def tex(v, digits: int = 3) -> str:
    """The same number for st.latex: 1.00e-5 -> 1.00\\times10^{-5}, inf -> \\infty."""
    s = num(v, digits)
    if s in ("∞", "−∞"):
        return "\\infty" if s == "∞" else "-\\infty"
    if "e" in s and s != "n/a":
        m, e = s.split("e")
        return f"{m}\\times10^{{{int(e)}}}"
    return s


def pct(v, digits: int = 0) -> str:
    return f"{100 * float(v):.{digits}f} %"


def plural(n: int, word: str, many: str = "") -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"
