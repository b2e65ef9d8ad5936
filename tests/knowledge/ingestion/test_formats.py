"""Type sniffing must agree with the extension; names never become paths."""

import pytest

from knowledge.ingestion.errors import IngestionError
from knowledge.ingestion.formats import detect_format, sniff, source_name
from tests.knowledge import corpus


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("notes.txt", b"plain words", "text"),
        ("README.MD", corpus.MARKDOWN, "markdown"),
        ("page.htm", corpus.HTML, "html"),
        ("paper.pdf", corpus.pdf(["one page"]), "pdf"),
        ("report.docx", corpus.docx_file(), "docx"),
        ("bom.txt", "\ufeffhello".encode("utf-8"), "text"),
        ("wide.txt", "hello".encode("utf-16"), "text"),
    ],
)
def test_accepted_formats(filename, data, expected):
    assert detect_format(filename=filename, data=data) == expected


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("archive.zip", b"PK\x03\x04rest", "unsupported_type"),
        ("script.sh", b"echo hi", "unsupported_type"),
        ("noextension", b"text", "unsupported_type"),
        ("macros.docm", corpus.docx_file(), "macro_document"),
        ("empty.txt", b"", "empty_file"),
        ("image.txt", corpus.PNG, "type_mismatch"),
        ("fake.pdf", b"just text pretending", "type_mismatch"),
        ("doc-as.pdf", corpus.docx_file(), "type_mismatch"),
        ("pdf-as.docx", corpus.pdf(["x"]), "type_mismatch"),
        ("pdf-as.md", corpus.pdf(["x"]), "type_mismatch"),
        ("binary.html", b"<html>\x00\x01\x02</html>", "type_mismatch"),
        ("locked.docx", corpus.encrypted_ooxml(), "encrypted_file"),
    ],
)
def test_refused_uploads_have_stable_codes(filename, data, code):
    with pytest.raises(IngestionError) as refused:
        detect_format(filename=filename, data=data)

    assert refused.value.code == code
    assert str(refused.value).startswith(f"{code}: ")


def test_sniff_names_the_content_kind():
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"PK\x03\x04") == "zip"
    assert sniff(b"\x7fELF") == "binary"
    assert sniff("héllo".encode()) == "text"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("/absolute/notes.md", "notes.md"),
        ("evil\x00.txt.pdf", "evil.txt.pdf"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("..", "document"),
        ("", "document"),
        (".hidden.md", "hidden.md"),
    ],
)
def test_source_name_strips_paths_and_control_characters(raw, expected):
    assert source_name(raw) == expected


def test_source_name_keeps_a_long_name_short_with_its_extension():
    name = source_name("a" * 300 + ".pdf")

    assert len(name) == 255
    assert name.endswith(".pdf")
    assert detect_format(filename="../" + "a" * 300 + ".pdf", data=b"%PDF-1.4") == "pdf"


def test_unknown_error_code_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown ingestion error code"):
        IngestionError("made_up", "nope")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("file_too_large", 413),
        ("type_mismatch", 415),
        ("duplicate_content", 409),
        ("archive_bomb", 400),
        ("empty_file", 400),
    ],
)
def test_errors_name_the_http_status_an_api_answers(code, status):
    assert IngestionError(code, "m").http_status == status
