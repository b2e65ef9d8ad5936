"""Forms of the dashboard's billing and analytics pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from billing.api.views import MAX_RANGE

DEFAULT_DAYS = 30
BREAKDOWNS = [("workspace", "Workspace"), ("agent", "Agent")]


class UsageRangeForm(forms.Form):
    """The days an analytics page covers (inclusive) and how it splits them.

    The range rules are the usage API's: ``start`` not after ``end`` and at
    most ``MAX_RANGE`` apart.
    """

    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(choices=BREAKDOWNS, label="Break down by")

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        today = timezone.localdate()
        defaults = {
            "start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
            "by": "workspace",
        }
        given = {k: v for k, v in (data or {}).items() if k in defaults and v}
        super().__init__({**defaults, **given}, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                self.add_error("end", "Must not be before the start.")
            elif end - start > MAX_RANGE:
                self.add_error("end", "The range may span at most 366 days.")
        return data

    def span(self) -> tuple[date, date]:
        return self.cleaned_data["start"], self.cleaned_data["end"]
