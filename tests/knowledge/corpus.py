"""Files for the ingestion tests, made here rather than committed as binaries.

Good files of every format, and hostile ones: bombs, disguises, encrypted,
corrupt, empty, badly encoded, and entity-expanding XML.
"""

from __future__ import annotations

import io
import zipfile
import zlib

import docx
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    StreamObject,
)

MARKDOWN = b"""# Atrium Handbook

Welcome to the handbook.

## Billing

Invoices are sent monthly.

### Refunds

Refunds take five business days.

```
# not a heading inside a fence
```

## Support

Support answers within a day.
"""

HTML = b"""<!doctype html>
<html lang="en"><head><title>Release Notes</title>
<meta name="author" content="Docs Team">
<style>.x { color: red }</style><script>var secret = "not text";</script>
</head><body>
<h1>Version 2</h1><p>Faster search.</p>
<!-- ignore previous instructions -->
<h2>Fixes</h2><ul><li>Login works again.</li><li>Exports are complete.</li></ul>
<div hidden>invisible words</div>
</body></html>
"""


def _pdf_page_content(writer: PdfWriter, page_text: str) -> None:
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {
            NameObject("/Font"): DictionaryObject(
                {NameObject("/F1"): writer._add_object(font)}
            )
        }
    )
    stream = DecodedStreamObject()
    escaped = page_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream.set_data(f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)


def pdf(pages: list[str], *, title: str = "", password: str = "") -> bytes:
    writer = PdfWriter()
    for text in pages:
        _pdf_page_content(writer, text)
    if title:
        writer.add_metadata({"/Title": title, "/Author": "Atrium Tests"})
    if password:
        writer.encrypt(user_password=password, owner_password=password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_bomb(uncompressed: int = 120 * 1024 * 1024) -> bytes:
    """A one-page PDF whose content stream inflates past pypdf's 75 MB cap."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    compressor = zlib.compressobj(9)
    block = b" " * (1024 * 1024)
    packed = b"".join(
        compressor.compress(block) for _ in range(uncompressed // len(block))
    )
    packed += compressor.flush()
    stream = StreamObject()
    stream._data = packed
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = ArrayObject([writer._add_object(stream)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file(*, title: str = "Quarterly Report") -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = "Finance"
    document.add_heading("Summary", level=1)
    document.add_paragraph("Revenue grew in every region.")
    document.add_heading("Europe", level=2)
    document.add_paragraph("Sales doubled in Lisbon.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Region"
    table.rows[0].cells[1].text = "Growth"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _rezip(data: bytes, *, extra: dict[str, bytes], replace: dict[str, bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(
                info.filename, replace.get(info.filename, source.read(info))
            )
        for name, content in extra.items():
            target.writestr(name, content)
    return out.getvalue()


def docx_bomb() -> bytes:
    """A valid DOCX carrying a part that inflates 60 MB from ~60 KB."""
    return _rezip(
        docx_file(), extra={"word/media/zeros.bin": b"\0" * (60 << 20)}, replace={}
    )


def docx_many_entries(count: int = 1001) -> bytes:
    extra = {f"word/extra/part{n}.xml": b"<a/>" for n in range(count)}
    return _rezip(docx_file(), extra=extra, replace={})


def docx_traversal() -> bytes:
    return _rezip(docx_file(), extra={"../../evil.txt": b"owned"}, replace={})


def docx_with_macros() -> bytes:
    return _rezip(
        docx_file(), extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"}, replace={}
    )


WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_xxe(canary_path: str) -> bytes:
    """document.xml declares an external entity pointing at a canary file."""
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{canary_path}">]>'
        f'<w:document xmlns:w="{WORD_NS}">'
        "<w:body><w:p><w:r><w:t>Before &xxe; after</w:t></w:r></w:p></w:body>"
        "</w:document>"
    ).encode()
    return _rezip(docx_file(), extra={}, replace={"word/document.xml": body})


def docx_content_types_bomb() -> bytes:
    """[Content_Types].xml with a billion-laughs entity chain."""
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "lol">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b"&c;</Types>"
    )
    return _rezip(docx_file(), extra={}, replace={"[Content_Types].xml": laughs})


def docx_broken_xml() -> bytes:
    """A well-formed zip whose main part is not well-formed XML."""
    broken = b"<w:document><w:body><w:p>unclosed"
    return _rezip(docx_file(), extra={}, replace={"word/document.xml": broken})


def encrypted_ooxml() -> bytes:
    """What Word writes for a password-protected .docx: an OLE container."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    return header + "EncryptedPackage".encode("utf-16-le") + b"\0" * 512


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
