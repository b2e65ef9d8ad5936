"""Print a benchmark's table and keep it under var/bench/."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples_ms), 4),
        "p95_ms": round(percentile(samples_ms, 95), 4),
        "p99_ms": round(percentile(samples_ms, 99), 4),
        "n": len(samples_ms),
    }


def publish(name: str, rows: Sequence[Mapping[str, Any]], notes: list[str]) -> Path:
    columns = list(rows[0])
    widths = [max(len(str(c)), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)),
        "  ".join("-" * w for w in widths),
        *(
            "  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True))
            for r in rows
        ),
        *notes,
    ]
    text = "\n".join(lines)
    print(f"\n== {name} ==\n{text}\n")
    directory = Path(settings.BASE_DIR) / "var" / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.txt").write_text(text + "\n")
    (directory / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return directory / f"{name}.txt"
