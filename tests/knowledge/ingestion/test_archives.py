"""The DOCX guard refuses bombs, path tricks, macros and encryption quickly."""

import time

import pytest

from knowledge.ingestion.archives import ArchiveLimits, docx_check
from knowledge.ingestion.errors import IngestionError
from tests.knowledge import corpus


def test_a_plain_docx_passes():
    docx_check(corpus.docx_file())


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (corpus.docx_bomb, "archive_bomb"),
        (corpus.docx_many_entries, "archive_bomb"),
        (corpus.docx_traversal, "archive_bomb"),
        (corpus.docx_with_macros, "macro_document"),
        (corpus.docx_content_types_bomb, "corrupt_file"),
        (lambda: b"PK\x03\x04 truncated zip", "corrupt_file"),
    ],
)
def test_hostile_docx_refused(make, code):
    data = make()
    started = time.monotonic()

    with pytest.raises(IngestionError) as refused:
        docx_check(data)

    assert refused.value.code == code
    assert time.monotonic() - started < 1


def test_compression_ratio_limit():
    # A DOCX's parts compress well, but not a hundredfold: a tighter limit
    # shows the ratio check is what fires.
    with pytest.raises(IngestionError) as refused:
        docx_check(corpus.docx_file(), limits=ArchiveLimits(ratio=1))

    assert refused.value.code == "archive_bomb"
    assert "ratio" in refused.value.message


def test_a_zip_that_is_not_a_word_document():
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")

    with pytest.raises(IngestionError) as refused:
        docx_check(out.getvalue())

    assert refused.value.code == "corrupt_file"
