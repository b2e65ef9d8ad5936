"""Estimated model costs, for usage events whose caller does not know theirs.

List prices in US dollars per million tokens (input, output). An unknown
model, or the offline extractive responder, costs nothing: the estimate is
for reporting, and Stripe bills the plan, not tokens.
"""

from __future__ import annotations

from decimal import Decimal

PER_MILLION: dict[str, tuple[Decimal, Decimal]] = {
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "gpt-4.1": (Decimal("2.00"), Decimal("8.00")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
    "text-embedding-3-small": (Decimal("0.02"), Decimal("0")),
    "text-embedding-3-large": (Decimal("0.13"), Decimal("0")),
    "claude-3-5-haiku": (Decimal("0.80"), Decimal("4.00")),
    "claude-sonnet-4": (Decimal("3.00"), Decimal("15.00")),
    "claude-opus-4": (Decimal("15.00"), Decimal("75.00")),
}

_MILLION = Decimal(1_000_000)
_PLACES = Decimal("0.000001")


def estimate_cost(model_name: str, input_tokens: int, output_tokens: int) -> Decimal:
    """The list-price cost of a call; the longest known prefix of the name wins.

    Dated model names ("gpt-4o-2024-08-06") match their family.
    """
    matches = [name for name in PER_MILLION if model_name.startswith(name)]
    if not matches:
        return Decimal(0)
    price_in, price_out = PER_MILLION[max(matches, key=len)]
    cost = (price_in * input_tokens + price_out * output_tokens) / _MILLION
    return cost.quantize(_PLACES)
