"""The ``PRICES`` table: dated unit prices per provider model, and what a step costs.

A price change is a new dated entry, never an edit: each record keeps the unit prices
it was charged at, and `prices_on` picks the entry in force on the step's day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from transcription_platform.conf import settings

UNIT_KEYS = ("per_audio_minute", "per_1k_input_tokens", "per_1k_output_tokens")
COST_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class Price:
    """The unit prices of one model from ``effective_from`` on (None: not priced)."""

    effective_from: date | None = None
    units: dict[str, Decimal] = field(default_factory=dict)

    def as_json(self) -> dict[str, str]:
        data = {key: str(value) for key, value in self.units.items()}
        if self.effective_from is not None:
            data["effective_from"] = self.effective_from.isoformat()
        return data


FREE = Price()


def _parse_entry(model: str, entry: object) -> Price:
    where = f"TRANSCRIPTION_PLATFORM['PRICES'][{model!r}]"
    if not isinstance(entry, dict) or "effective_from" not in entry:
        raise ImproperlyConfigured(f"{where}: each entry must be a dict with effective_from.")
    unknown = set(entry) - {"effective_from", *UNIT_KEYS}
    if unknown:
        raise ImproperlyConfigured(f"{where}: unknown key(s) {', '.join(sorted(unknown))}.")
    try:
        effective_from = date.fromisoformat(str(entry["effective_from"]))
        # str() first: a float such as 0.006 must not become 0.00599999...
        units = {key: Decimal(str(entry[key])) for key in UNIT_KEYS if key in entry}
    except (ValueError, InvalidOperation) as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from exc
    if any(value < 0 or not value.is_finite() for value in units.values()):
        raise ImproperlyConfigured(f"{where}: prices must be finite and not negative.")
    return Price(effective_from, units)


def prices_on(model: str, day: date) -> Price:
    """The entry of ``model`` in force on ``day``; `FREE` when none is."""
    entries = settings.PRICES.get(model)
    if entries is None:
        return FREE
    if not isinstance(entries, list):
        raise ImproperlyConfigured(f"TRANSCRIPTION_PLATFORM['PRICES'][{model!r}] must be a list.")
    # _parse_entry always sets effective_from; only FREE has none.
    in_force = [
        p
        for p in (_parse_entry(model, e) for e in entries)
        if p.effective_from is not None and p.effective_from <= day
    ]
    return max(in_force, key=lambda p: p.effective_from or date.min) if in_force else FREE


def step_cost(
    price: Price,
    *,
    audio_seconds: Decimal,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> Decimal:
    """What a step costs at ``price``.

    Tokens are billed when the provider reported them and the model has token prices
    (the gpt-4o transcribe models, chat models); otherwise audio minutes are. Either
    way the per-minute price is also what a reservation estimates before the job runs.
    """
    units = price.units
    token_priced = "per_1k_input_tokens" in units or "per_1k_output_tokens" in units
    if token_priced and (input_tokens is not None or output_tokens is not None):
        cost = (
            units.get("per_1k_input_tokens", Decimal(0)) * (input_tokens or 0)
            + units.get("per_1k_output_tokens", Decimal(0)) * (output_tokens or 0)
        ) / 1000
    else:
        cost = units.get("per_audio_minute", Decimal(0)) * audio_seconds / 60
    return cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
