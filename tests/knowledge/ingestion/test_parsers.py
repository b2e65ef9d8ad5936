"""Every format parses with its title, structure and metadata; hostile files
end in typed errors."""

import pytest

from knowledge.ingestion import parsers
from knowledge.ingestion.errors import IngestionError
from tests.knowledge import corpus


def test_plain_text_keeps_its_first_line_as_title():
    parsed = parsers.parse(
        "text", b"Meeting notes\r\n\r\n\r\nWe   agreed.", fallback_title="f"
    )

    assert parsed.title == "Meeting notes"
    assert parsed.text == "Meeting notes\n\nWe agreed."
    assert parsed.metadata == {"format": "text"}


def test_markdown_sections_carry_their_heading_path():
    parsed = parsers.parse("markdown", corpus.MARKDOWN, fallback_title="f")

    assert parsed.title == "Atrium Handbook"
    paths = [section.heading_path for section in parsed.sections]
    assert paths == [
        ["Atrium Handbook"],
        ["Atrium Handbook", "Billing"],
        ["Atrium Handbook", "Billing", "Refunds"],
        ["Atrium Handbook", "Support"],
    ]
    # A '#' inside a code fence is code, not a heading.
    assert "# not a heading inside a fence" in parsed.sections[2].text
    assert parsed.metadata["headings"] == 4


def test_markdown_setext_headings():
    data = b"Guide\n=====\n\nIntro.\n\nSetup\n-----\n\nInstall it.\n"

    parsed = parsers.parse("markdown", data, fallback_title="f")

    assert parsed.title == "Guide"
    assert [s.heading_path for s in parsed.sections] == [["Guide"], ["Guide", "Setup"]]
    assert "=====" not in parsed.text


def test_html_drops_scripts_comments_and_hidden_text():
    parsed = parsers.parse("html", corpus.HTML, fallback_title="f")

    assert parsed.title == "Release Notes"
    assert parsed.metadata["author"] == "Docs Team"
    assert parsed.metadata["language"] == "en"
    assert [s.heading_path for s in parsed.sections] == [
        ["Version 2"],
        ["Version 2", "Fixes"],
    ]
    for hidden in ("secret", "ignore previous", "invisible", "color: red"):
        assert hidden not in parsed.text
    assert "Login works again.\n\nExports are complete." in parsed.text


def test_deeply_nested_html_does_not_recurse():
    data = b"<div>" * 5000 + b"deep text" + b"</div>" * 5000

    parsed = parsers.parse("html", data, fallback_title="Nested")

    assert parsed.text == "deep text"
    assert parsed.title == "Nested"


def test_pdf_pages_title_and_metadata():
    data = corpus.pdf(["First page text", "Second page text"], title="Annual Plan")

    parsed = parsers.parse("pdf", data, fallback_title="f")

    assert parsed.title == "Annual Plan"
    assert [(s.page, s.text) for s in parsed.sections] == [
        (1, "First page text"),
        (2, "Second page text"),
    ]
    assert parsed.metadata == {"format": "pdf", "pages": 2, "author": "Atrium Tests"}


def test_docx_headings_tables_and_core_properties():
    parsed = parsers.parse("docx", corpus.docx_file(), fallback_title="f")

    assert parsed.title == "Quarterly Report"
    assert parsed.metadata["author"] == "Finance"
    assert [s.heading_path for s in parsed.sections] == [
        ["Summary"],
        ["Summary", "Europe"],
    ]
    assert "Region | Growth" in parsed.text


def test_docx_external_entity_is_never_resolved(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-7f3a")

    parsed = parsers.parse("docx", corpus.docx_xxe(str(canary)), fallback_title="f")

    assert "CANARY" not in parsed.text
    assert "Before" in parsed.text


@pytest.mark.parametrize(
    ("fmt", "make", "code"),
    [
        ("pdf", lambda: corpus.pdf(["secret"], password="hunter22"), "encrypted_file"),
        ("pdf", corpus.pdf_bomb, "archive_bomb"),
        ("pdf", lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog", "corrupt_file"),
        ("pdf", lambda: corpus.pdf([""]), "no_text"),
        ("docx", corpus.docx_bomb, "archive_bomb"),
        ("docx", corpus.docx_with_macros, "macro_document"),
        ("docx", lambda: corpus.docx_file()[:2000], "corrupt_file"),
        ("text", lambda: "café".encode("latin-1"), "bad_encoding"),
        ("text", lambda: b"   \n\n\t ", "no_text"),
        ("markdown", lambda: b"\xff\xfe\x00", "bad_encoding"),
        ("html", lambda: b"<html><script>only code</script></html>", "no_text"),
    ],
)
def test_hostile_and_broken_files(fmt, make, code):
    with pytest.raises(IngestionError) as refused:
        parsers.parse(fmt, make(), fallback_title="f")

    assert refused.value.code == code


def test_pdf_page_cap():
    with pytest.raises(IngestionError) as refused:
        parsers.parse(
            "pdf", corpus.pdf(["a", "b", "c"]), fallback_title="f", max_pages=2
        )

    assert refused.value.code == "too_many_pages"


def test_pdf_with_an_empty_user_password_opens():
    data = corpus.pdf(["Readable text"], password="")
    from io import BytesIO

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(data)))
    writer.encrypt(user_password="", owner_password="owner-only")
    out = BytesIO()
    writer.write(out)

    parsed = parsers.parse("pdf", out.getvalue(), fallback_title="f")

    assert parsed.text == "Readable text"
