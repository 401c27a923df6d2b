"""How losses are shown, the same everywhere (progress, ``status``, losses.png, the batch table):
the total and each term *as it counts in the total*, its loss times its weight at that iteration,
so the terms add up to the total. log.jsonl keeps both halves: the terms as measured
(``losses``) and the weights (``loss_weights``). No torch.
"""

from __future__ import annotations

from collections.abc import Mapping

_ORDER = ("content", "style", "tv")


def weighted_losses(losses: Mapping[str, float], loss_weights: Mapping[str, float]) -> dict[str, float]:
    """``{"total": …, "content": …, …}`` with every term weighted; ``{}`` when the weights are not
    known (a log written before they were recorded)."""
    if not loss_weights:
        return {}
    terms = {name: float(value) * float(loss_weights[name]) for name, value in losses.items() if name in loss_weights}
    ordered = sorted(terms, key=lambda name: (_ORDER.index(name) if name in _ORDER else len(_ORDER), name))
    total = {"total": float(losses["total"])} if "total" in losses else {}
    return {**total, **{name: terms[name] for name in ordered}}


def losses_line(losses: Mapping[str, float], loss_weights: Mapping[str, float]) -> str:
    """``total 9.08e6 = content 1.54e6 + style 7.53e6 + tv 1.1e4``; without weights the terms as
    measured, labelled so (they do not add up to the total)."""
    if not losses:
        return ""
    weighted = weighted_losses(losses, loss_weights)
    if weighted:
        return sum_line(weighted)
    terms = ", ".join(f"{name} {number(value)}" for name, value in losses.items() if name != "total")
    total = f"total {number(losses['total'])}; " if "total" in losses else ""
    return f"{total}unweighted {terms}"


def sum_line(weighted: Mapping[str, float], *, named: bool = True) -> str:
    """``total 9.08e6 = content 1.54e6 + style 7.53e6 + tv 1.1e4`` from losses already weighted
    (not ``named``: ``9.08e6 = 1.54e6 + 7.53e6 + 1.1e4``, for a table whose header names them)."""

    def term(name: str) -> str:
        return f"{name} {number(weighted[name])}" if named else number(weighted[name])

    terms = " + ".join(term(name) for name in weighted if name != "total")
    return f"{term('total')} = {terms}" if "total" in weighted else terms


def number(value: float) -> str:
    """Three significant digits, exponents as people write them: 9.08e6, 15.4, 0.5."""
    text = f"{float(value):.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text
