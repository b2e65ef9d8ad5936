"""The SVG charts on their own: scales, series, escaping, empty data."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from billing.charts import MAX_SERIES, nice_ticks, stacked_bars, top_series

DAYS = [date(2026, 3, 1) + timedelta(days=n) for n in range(7)]


@pytest.mark.parametrize(
    ("maximum", "count", "whole", "expected"),
    [
        (0, 5, True, [0, 1]),
        (3, 5, True, [0, 1, 2, 3]),
        (97, 5, True, [0, 25, 50, 75, 100]),
        (1234, 5, True, [0, 500, 1000, 1500]),
        (0.42, 5, False, [0, 0.2, 0.4, 0.6]),
    ],
)
def test_ticks_are_round_and_cover_the_maximum(maximum, count, whole, expected):
    assert nice_ticks(maximum, count, whole=whole) == expected


def test_series_past_the_palette_are_summed_as_others():
    named = {f"w{n}": (f"Workspace {n}", [float(n)] * 7) for n in range(9)}
    order = sorted(named, key=lambda key: -named[key][1][0])

    series = top_series(named, order)

    assert len(series) == MAX_SERIES
    assert [s.label for s in series[:2]] == ["Workspace 8", "Workspace 7"]
    assert series[-1].label == "4 others" and series[-1].css == "chart-series-other"
    assert series[-1].values == [0.0 + 1 + 2 + 3] * 7
    assert sum(s.total for s in series) == sum(sum(v) for _, v in named.values())


def test_bars_stack_to_the_days_totals_and_names_are_escaped():
    named = {
        "a": ("<script>alert(1)</script>", [1, 0, 2, 0, 0, 0, 3]),
        "b": ("Billing & Co", [1, 1, 0, 0, 0, 0, 0]),
    }
    series = top_series(named, ["a", "b"])

    chart = stacked_bars(
        chart_id="c",
        title="Requests per day",
        measure="requests",
        breakdown="workspace",
        days=DAYS,
        series=series,
    )

    assert len(chart.svgs) == 3
    for svg in chart.svgs:
        assert "<script>" not in svg and "&lt;script&gt;" in svg
        assert "Billing &amp; Co" in svg
        assert svg.count('<rect class="chart-series-0"') == 3
        assert svg.count('<rect class="chart-series-1"') == 2
        assert 'role="img"' in svg and 'aria-labelledby="c-' in svg
    assert "Total 8; the busiest day was Mar 7, 2026 with 3" in chart.description
    assert not chart.is_empty


def test_an_empty_chart_says_so():
    chart = stacked_bars(
        chart_id="c",
        title="Cost",
        measure="estimated cost",
        breakdown="agent",
        days=DAYS,
        series=[],
        unit="usd",
    )

    assert chart.is_empty
    assert all("No usage in this period" in svg for svg in chart.svgs)
    assert chart.description.endswith(": none.")
    assert all("$0" in svg for svg in chart.svgs)


def test_a_years_bars_carry_no_tooltips_but_every_day_is_drawn():
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(366)]
    series = top_series({"a": ("A", [1.0] * 366)}, ["a"])

    chart = stacked_bars(
        chart_id="y",
        title="Requests per day",
        measure="requests",
        breakdown="workspace",
        days=days,
        series=series,
    )

    for svg in chart.svgs:
        assert svg.count('<rect class="chart-series-0"') == 366
        assert svg.count("<title") == 1  # the chart's own
