"""Extract text, structure and metadata from each accepted format.

Every parser returns a :class:`ParsedDocument` whose sections carry their
heading path, so chunking can keep a passage with the headings above it.
Parsers see hostile input: each failure becomes an :class:`IngestionError`
with a stable code, never an unhandled exception.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from knowledge.ingestion import archives
from knowledge.ingestion.errors import IngestionError
from knowledge.ingestion.formats import DOCX, HTML, MARKDOWN, PDF, TEXT

logger = logging.getLogger(__name__)

DEFAULT_MAX_PAGES = 500
MAX_TITLE = 500


@dataclass
class Section:
    """A run of text under one heading path (empty at the top of a document)."""

    heading_path: list[str]
    text: str
    page: int | None = None


@dataclass
class ParsedDocument:
    title: str
    sections: list[Section]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections if section.text)


def _clean(text: str) -> str:
    """Normalise whitespace: spaces collapsed, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\f\v\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16.

    Anything else is refused rather than guessed: a wrong guess would store
    mojibake that searches can never match.
    """
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IngestionError(
            "bad_encoding", "The text is not valid UTF-8 or UTF-16."
        ) from error


def _title(candidate: str, fallback: str) -> str:
    title = " ".join((candidate or "").split()) or fallback
    return title[:MAX_TITLE]


def _require_text(parsed: ParsedDocument) -> ParsedDocument:
    if not parsed.text.strip():
        raise IngestionError("no_text", "No text could be extracted from the file.")
    return parsed


# --- Plain text and Markdown -------------------------------------------------


def parse_text(data: bytes, *, fallback_title: str) -> ParsedDocument:
    text = _clean(decode_text(data))
    first_line = text.split("\n", 1)[0] if text else ""
    title = first_line if 0 < len(first_line) <= 120 else fallback_title
    return _require_text(
        ParsedDocument(
            title=_title(title, fallback_title),
            sections=[Section(heading_path=[], text=text)],
            metadata={"format": TEXT},
        )
    )


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _markdown_headings(lines: list[str]) -> Iterator[tuple[int, int | None, str]]:
    """Yield (line number, heading level or None, text) for every line."""
    fence: str | None = None
    for number, line in enumerate(lines):
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0]:
                fence = None
            yield number, None, line
            continue
        if opened:
            fence = opened.group(1)
            yield number, None, line
            continue
        atx = _ATX.match(line)
        if atx:
            yield number, len(atx.group(1)), atx.group(2).strip()
            continue
        underline = _SETEXT.match(line)
        previous = lines[number - 1].strip() if number else ""
        if underline and previous and not _ATX.match(lines[number - 1]):
            yield number, 1 if underline.group(1)[0] == "=" else 2, previous
            continue
        yield number, None, line


def parse_markdown(data: bytes, *, fallback_title: str) -> ParsedDocument:
    lines = decode_text(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    title = ""
    headings = 0

    def flush() -> None:
        text = _clean("\n".join(buffer))
        if text:
            sections.append(Section(heading_path=[h for _, h in path], text=text))
        buffer.clear()

    for number, level, text in _markdown_headings(lines):
        if level is None:
            buffer.append(text)
            continue
        # A setext heading's text line was already buffered as a paragraph.
        if buffer and buffer[-1].strip() == text and _SETEXT.match(lines[number]):
            buffer.pop()
        flush()
        if level == 1 and not title:
            title = text
        headings += 1
        path = [(lvl, heading) for lvl, heading in path if lvl < level]
        path.append((level, text))
        buffer.append(text)
    flush()

    return _require_text(
        ParsedDocument(
            title=_title(title, fallback_title),
            sections=sections,
            metadata={"format": MARKDOWN, "headings": headings},
        )
    )


# --- HTML --------------------------------------------------------------------

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SKIP = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
_BLOCKS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav",
    "li", "ul", "ol", "dl", "dt", "dd", "pre", "blockquote", "table", "tr", "td",
    "th", "figure", "figcaption", "caption", "form", "fieldset", "address", "hr",
}  # fmt: skip
# Marks where a block element's children end in the walk's stack.
_BLOCK_END = object()


def parse_html(data: bytes, *, fallback_title: str) -> ParsedDocument:
    from bs4 import BeautifulSoup, NavigableString, Tag
    from bs4.element import PreformattedString

    text = decode_text(data)
    # The standard library's parser: no network, no entity expansion, and it
    # copes with any nesting depth without recursion in the walk below.
    soup = BeautifulSoup(text, "html.parser")

    metadata: dict[str, Any] = {"format": HTML}
    head_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for meta in soup.find_all("meta"):
        name = str(meta.get("name") or meta.get("property") or "").lower()
        if name in {"description", "author", "keywords", "og:title"}:
            metadata[name] = str(meta.get("content") or "")[:1000]
    html_tag = soup.find("html")
    if isinstance(html_tag, Tag) and html_tag.get("lang"):
        metadata["language"] = str(html_tag.get("lang"))[:20]

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    first_h1 = ""

    def flush() -> None:
        cleaned = _clean("".join(buffer))
        if cleaned:
            sections.append(Section(heading_path=[h for _, h in path], text=cleaned))
        buffer.clear()

    root = soup.body or soup
    stack: list[Any] = list(reversed(list(root.children)))
    while stack:
        node = stack.pop()
        if node is _BLOCK_END:
            buffer.append("\n\n")
        elif isinstance(node, PreformattedString):
            continue  # comments, doctypes, CDATA: never visible text
        elif isinstance(node, NavigableString):
            buffer.append(str(node))
        elif isinstance(node, Tag):
            name = node.name.lower()
            if name in _SKIP or node.get("hidden") is not None:
                continue
            if name in _HEADINGS:
                heading = " ".join(node.get_text(" ", strip=True).split())[:300]
                if not heading:
                    continue
                flush()
                level = _HEADINGS[name]
                if level == 1 and not first_h1:
                    first_h1 = heading
                path = [(lvl, h) for lvl, h in path if lvl < level]
                path.append((level, heading))
                buffer.append(heading + "\n\n")
            elif name == "br":
                buffer.append("\n")
            else:
                children = list(node.children)
                if name in _BLOCKS:
                    stack.append(_BLOCK_END)
                stack.extend(reversed(children))
                if name in _BLOCKS:
                    buffer.append("\n\n")
    flush()

    return _require_text(
        ParsedDocument(
            title=_title(head_title or first_h1, fallback_title),
            sections=sections,
            metadata=metadata,
        )
    )


# --- PDF ---------------------------------------------------------------------


_PDF_STRUCTURE_ERRORS = (
    ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError,
    RecursionError, ZeroDivisionError, OSError,
)  # fmt: skip


def parse_pdf(
    data: bytes, *, fallback_title: str, max_pages: int = DEFAULT_MAX_PAGES
) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to
            # restrict printing; those open. Anything else needs a password.
            try:
                opened = reader.decrypt("")
            except (FileNotDecryptedError, NotImplementedError) as error:
                raise IngestionError(
                    "encrypted_file", "The PDF is password-protected."
                ) from error
            if not opened:
                raise IngestionError("encrypted_file", "The PDF is password-protected.")
        page_count = len(reader.pages)
        if page_count > max_pages:
            raise IngestionError(
                "too_many_pages", f"The PDF has more than {max_pages} pages."
            )
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            contents = page.get_contents()
            if contents is not None:
                # Decoding first surfaces a decompression bomb as
                # LimitReachedError; extract_text would swallow it and
                # return nothing.
                contents.get_data()
            text = _clean(page.extract_text() or "")
            if text:
                sections.append(Section(heading_path=[], text=text, page=number))
        info = reader.metadata
        title = str(info.title or "") if info else ""
        metadata: dict[str, Any] = {"format": PDF, "pages": page_count}
        if info:
            for key, value in (("author", info.author), ("subject", info.subject)):
                if value:
                    metadata[key] = str(value)[:1000]
    except IngestionError:
        raise
    except LimitReachedError as error:
        raise IngestionError(
            "archive_bomb", "The PDF decompresses beyond the allowed size."
        ) from error
    except PyPdfError as error:
        raise IngestionError("corrupt_file", "The PDF cannot be read.") from error
    except _PDF_STRUCTURE_ERRORS as error:
        # pypdf lets these escape on malformed structures; to the uploader
        # they all mean the same thing.
        logger.info("pdf parser failed: %s", type(error).__name__)
        raise IngestionError("corrupt_file", "The PDF cannot be read.") from error

    return _require_text(
        ParsedDocument(
            title=_title(title, fallback_title), sections=sections, metadata=metadata
        )
    )


# --- DOCX --------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)


def parse_docx(data: bytes, *, fallback_title: str) -> ParsedDocument:
    archives.docx_check(data)

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from lxml.etree import LxmlError

    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
        sections: list[Section] = []
        path: list[tuple[int, str]] = []
        buffer: list[str] = []
        first_heading = ""

        def flush() -> None:
            cleaned = _clean("\n".join(buffer))
            if cleaned:
                sections.append(
                    Section(heading_path=[h for _, h in path], text=cleaned)
                )
            buffer.clear()

        for child in body.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                paragraph = Paragraph(child, document)
                text = paragraph.text.strip()
                style = paragraph.style.name if paragraph.style is not None else ""
                match = _HEADING_STYLE.match(style or "")
                level = 1 if style == "Title" else int(match.group(1)) if match else 0
                if level and text:
                    flush()
                    first_heading = first_heading or text
                    path = [(lvl, h) for lvl, h in path if lvl < level]
                    path.append((level, text[:300]))
                buffer.append(text)
            elif tag == "tbl":
                for row in Table(child, document).rows:
                    cells = [cell.text.strip() for cell in row.cells]
                    buffer.append(" | ".join(cell for cell in cells if cell))
        flush()

        core = document.core_properties
        metadata: dict[str, Any] = {"format": DOCX}
        for key in ("author", "subject", "keywords"):
            value = getattr(core, key, "")
            if value:
                metadata[key] = str(value)[:1000]
        title = core.title or first_heading
    except IngestionError:
        raise
    except (PackageNotFoundError, LxmlError, KeyError, ValueError, TypeError,
            AttributeError, IndexError, OSError) as error:  # fmt: skip
        logger.info("docx parser failed: %s", type(error).__name__)
        raise IngestionError("corrupt_file", "The DOCX cannot be read.") from error

    return _require_text(
        ParsedDocument(
            title=_title(title, fallback_title), sections=sections, metadata=metadata
        )
    )


Parser = Callable[..., ParsedDocument]
PARSERS: dict[str, Parser] = {
    TEXT: parse_text,
    MARKDOWN: parse_markdown,
    HTML: parse_html,
    PDF: parse_pdf,
    DOCX: parse_docx,
}


def parse(
    fmt: str, data: bytes, *, fallback_title: str, max_pages: int = DEFAULT_MAX_PAGES
) -> ParsedDocument:
    """Parse ``data`` of a format from :mod:`knowledge.ingestion.formats`."""
    if fmt == PDF:
        return parse_pdf(data, fallback_title=fallback_title, max_pages=max_pages)
    return PARSERS[fmt](data, fallback_title=fallback_title)
