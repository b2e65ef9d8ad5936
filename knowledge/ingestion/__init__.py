"""Turning an uploaded file into chunks: formats, parsers, chunking, stages.

The services in ``knowledge.services`` are the entry points; the modules here
are the parts they and the Celery tasks are built from (docs/ingestion.md).
"""
