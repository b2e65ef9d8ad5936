"""Charts of usage over time, drawn on the server as accessible SVG.

No chart library and no script: each chart is a stacked bar chart, one bar
per day, one colour per series. It is drawn at three widths (the stylesheet
shows one), because text in an SVG scales with it: a laptop's chart
squeezed onto a phone is unreadable, a phone's blown up is clumsy.
Each SVG is ``role="img"`` with a title and a description that states the
totals in words; series colours are the Okabe-Ito palette, which stays
distinguishable with the common colour-vision deficiencies, set through CSS
classes (``billing.css``) because the content security policy forbids
inline styles. The same numbers are on the page as a table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Series beyond this many are summed into one "Other" series.
MAX_SERIES = 6
OTHER = "other"


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    values: list[float]
    css: str

    @property
    def total(self) -> float:
        return sum(self.values)


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: int
    x_labels: int
    font: int


# Drawn at three widths; the stylesheet shows the one nearest the card's own
# width (a container query), so text renders at roughly 10 to 16 pixels.
WIDE = Layout(820, 270, 58, 12, 14, 30, 5, 8, 12)
MEDIUM = Layout(560, 260, 52, 10, 12, 30, 5, 6, 13)
COMPACT = Layout(340, 230, 44, 6, 12, 30, 4, 4, 13)
VARIANTS = (("wide", WIDE), ("medium", MEDIUM), ("compact", COMPACT))
# Past this many days a bar is too thin to point at: no per-bar tooltip,
# which keeps a year's chart small (the table has every figure).
TOOLTIP_DAYS = 92


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    series: list[Series]
    svgs: list[SafeString]
    is_empty: bool


def _count(value: float) -> str:
    return f"{round(value):,}"


def _money(value: float) -> str:
    if value and abs(value) < 0.01:
        return f"${value:,.4f}"
    return f"${value:,.2f}"


def _short_count(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            scaled = value / size
            text = f"{scaled:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value:g}"


def _short_money(value: float) -> str:
    if abs(value) >= 1000:
        return "$" + _short_count(value)
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.3f}".rstrip("0")
    return f"${value:,.2f}"


FORMATS: dict[str, tuple[Callable[[float], str], Callable[[float], str]]] = {
    # unit: (full, short for axis labels)
    "count": (_count, _short_count),
    "usd": (_money, _short_money),
}


def nice_ticks(maximum: float, count: int, *, whole: bool) -> list[float]:
    """Round tick values from 0 to at least ``maximum``, about ``count`` of them."""
    if maximum <= 0:
        return [0.0, 1.0] if whole else [0.0, 0.01]
    raw = maximum / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(
        m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12
    )
    if whole:
        step = max(1.0, math.ceil(step))
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(n * step, 10) for n in range(round(top / step) + 1)]


def top_series(
    named: dict[str, tuple[str, list[float]]],
    order: Sequence[str],
    css_prefix: str = "chart-series",
) -> list[Series]:
    """The series of ``named`` in ``order``; those past the palette as "Other".

    Every chart of a page gets the same ``order``, so a workspace or agent
    keeps its colour and place from one chart to the next.
    """
    ranked = [key for key in order if key in named]
    keep = ranked if len(ranked) <= MAX_SERIES else ranked[: MAX_SERIES - 1]
    series = [
        Series(
            key=key,
            label=named[key][0],
            values=named[key][1],
            css=f"{css_prefix}-{n}",
        )
        for n, key in enumerate(keep)
    ]
    rest = ranked[len(keep) :]
    if rest:
        columns = zip(*(named[key][1] for key in rest), strict=True)
        series.append(
            Series(
                key=OTHER,
                label=f"{len(rest)} others",
                values=[sum(column) for column in columns],
                css=f"{css_prefix}-{OTHER}",
            )
        )
    return series


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def _long_day(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def _svg(
    chart_id: str,
    layout: Layout,
    title: str,
    description: str,
    days: Sequence[date],
    series: list[Series],
    unit: str,
    variant: str,
) -> SafeString:
    full, short = FORMATS[unit]
    L = layout
    plot_w = L.width - L.left - L.right
    plot_h = L.height - L.top - L.bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    ticks = nice_ticks(max(totals, default=0), L.y_ticks, whole=unit == "count")
    top = ticks[-1] or 1
    base = L.top + plot_h

    def y(value: float) -> float:
        return base - value / top * plot_h

    ident = f"{chart_id}-{variant}"
    out = [
        f'<svg class="chart chart--{variant}" viewBox="0 0 {L.width} {L.height}"'
        f' role="img" aria-labelledby="{ident}-title {ident}-desc"'
        f' focusable="false" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        f'<g class="chart__grid" font-size="{L.font}">',
    ]
    for tick in ticks:
        ty = round(y(tick), 1)
        out.append(
            f'<line x1="{L.left}" x2="{L.width - L.right}" y1="{ty}" y2="{ty}"/>'
            f'<text x="{L.left - 6}" y="{ty}" dy="0.32em"'
            f' text-anchor="end">{escape(short(tick))}</text>'
        )
    out.append("</g>")

    n = max(len(days), 1)
    slot = plot_w / n
    bar = slot * (0.72 if n <= 62 else 0.9)
    out.append('<g class="chart__bars">')
    for i, day in enumerate(days):
        x = round(L.left + i * slot + (slot - bar) / 2, 2)
        running = 0.0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            y_top, y_bottom = y(running + value), y(running)
            running += value
            tip = (
                f"<title>{escape(_day(day))} · {escape(s.label)}: "
                f"{escape(full(value))}</title>"
                if len(days) <= TOOLTIP_DAYS
                else ""
            )
            out.append(
                f'<rect class="{s.css}" x="{x}" y="{round(y_top, 2)}"'
                f' width="{round(bar, 2)}"'
                f' height="{round(max(y_bottom - y_top, 0.5), 2)}">{tip}</rect>'
            )
    out.append("</g>")

    out.append(
        f'<line class="chart__axis" x1="{L.left}" x2="{L.width - L.right}"'
        f' y1="{base}" y2="{base}"/>'
    )
    every = max(1, math.ceil(len(days) / L.x_labels))
    out.append(f'<g class="chart__labels" font-size="{L.font}">')
    for i in range(0, len(days), every):
        # Under its bar, but never cut off at the drawing's edges.
        half = 1.8 * L.font
        cx = round(min(max(L.left + (i + 0.5) * slot, half), L.width - half), 1)
        out.append(
            f'<text x="{cx}" y="{base + L.font + 6}"'
            f' text-anchor="middle">{escape(_day(days[i]))}</text>'
        )
    out.append("</g>")
    if not any(totals):
        out.append(
            f'<text class="chart__empty" x="{L.left + plot_w / 2}"'
            f' y="{L.top + plot_h / 2}" text-anchor="middle"'
            f' font-size="{L.font + 2}">No usage in this period</text>'
        )
    out.append("</svg>")
    # Every text above went through escape(); numbers are formatted here.
    return mark_safe("".join(out))  # noqa: S308


def stacked_bars(
    *,
    chart_id: str,
    title: str,
    measure: str,
    breakdown: str,
    days: Sequence[date],
    series: list[Series],
    unit: str = "count",
) -> Chart:
    """A stacked bar chart of ``series`` (one value per day in ``days``)."""
    full, _short = FORMATS[unit]
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    grand = sum(totals)
    if days:
        span = f"from {_long_day(days[0])} to {_long_day(days[-1])}"
    else:
        span = "in this period"
    if grand <= 0:
        description = f"{measure.capitalize()} per day {span}: none."
    else:
        busiest = max(range(len(days)), key=lambda i: totals[i])
        parts = ", ".join(f"{s.label} {full(s.total)}" for s in series)
        description = (
            f"{measure.capitalize()} per day {span}, stacked by {breakdown}. "
            f"Total {full(grand)}; the busiest day was {_long_day(days[busiest])}"
            f" with {full(totals[busiest])}. By {breakdown}: {parts}."
        )
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        series=series,
        svgs=[
            _svg(chart_id, layout, title, description, days, series, unit, name)
            for name, layout in VARIANTS
        ],
        is_empty=grand <= 0,
    )
