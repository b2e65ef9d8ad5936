"""What each app contributes to a workspace's export and to its erasure.

Tenancy runs exports and erasure but knows nothing of documents, graphs or
agents (imports run the other way), so each app registers, in its
``AppConfig.ready``, an exporter that writes its part of the archive and an
eraser that removes what it keeps outside the database's workspace rows
(files, graph, buffers). Rows themselves are removed by tenancy, from every
table with a ``workspace_id`` column (``tenancy.erasure``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from tenancy.models import Workspace


@dataclass
class ExportWriter:
    """Writes entries into an export archive and keeps the manifest."""

    archive: zipfile.ZipFile
    workspace: Workspace
    include_embeddings: bool
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def file(self, name: str, data: bytes, *, records: int | None = None) -> None:
        """Add one file; its checksum and size go into the manifest."""
        if name in self.files:
            raise ValueError(f"{name} is already in the archive")
        self.archive.writestr(name, data)
        entry: dict[str, Any] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
        if records is not None:
            entry["records"] = records
        self.files[name] = entry

    def jsonl(self, name: str, rows: Iterable[dict[str, Any]]) -> int:
        """Add a JSON Lines file, one object per row; returns the row count.

        Written in a streaming fashion so a large table is never held whole.
        """
        if name in self.files:
            raise ValueError(f"{name} is already in the archive")
        digest, size, count = hashlib.sha256(), 0, 0
        with self.archive.open(name, "w", force_zip64=True) as handle:
            for row in rows:
                line = (
                    json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"
                ).encode()
                handle.write(line)
                digest.update(line)
                size += len(line)
                count += 1
        self.files[name] = {"sha256": digest.hexdigest(), "bytes": size}
        self.files[name]["records"] = count
        return count

    def count(self, name: str, value: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


Exporter = Callable[[ExportWriter], None]


@dataclass(frozen=True)
class Eraser:
    """Removes what an app keeps for a workspace outside its table rows.

    ``prepare`` runs inside the purge's transaction before the rows go (to
    read, say, the stored file names) and ``erase`` runs after it commits,
    given what ``prepare`` returned. ``erase`` must be idempotent: a purge
    that is retried runs it again. It returns what it removed, for the
    receipt.
    """

    name: str
    erase: Callable[[uuid.UUID, Any], dict[str, Any]]
    prepare: Callable[[uuid.UUID], Any] | None = None


_exporters: dict[str, Exporter] = {}
_erasers: dict[str, Eraser] = {}


def register_exporter(name: str, exporter: Exporter) -> None:
    """Add an app's part of the export (called from ``AppConfig.ready``)."""
    _exporters[name] = exporter


def register_eraser(eraser: Eraser) -> None:
    """Add an app's eraser (called from ``AppConfig.ready``)."""
    _erasers[eraser.name] = eraser


def exporters() -> list[tuple[str, Exporter]]:
    return sorted(_exporters.items())


def erasers() -> list[Eraser]:
    return [_erasers[name] for name in sorted(_erasers)]
