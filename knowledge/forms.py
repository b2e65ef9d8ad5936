"""Forms of the dashboard's document pages.

They only parse what the browser sent; whether a file is acceptable (size,
type, plan, duplicate) is decided by the same services the API calls.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from knowledge.ingestion.formats import FORMATS_BY_EXTENSION, MARKDOWN, TEXT
from knowledge.models import DocumentStatus

# The file pickers' hints; the services check every file whatever they allow.
ACCEPT = ",".join([*FORMATS_BY_EXTENSION, ".zip"])
# A new version of one document is one file: no archives.
REPLACE_ACCEPT = ",".join(FORMATS_BY_EXTENSION)
TEXT_FORMATS = [(TEXT, "Plain text"), (MARKDOWN, "Markdown")]
# Room for the other fields of a form with pasted text (CSRF token, format).
FORM_OVERHEAD_BYTES = 1024

# "active" stands for every status of a document still being ingested.
STATUS_CHOICES = [
    ("", "All statuses"),
    ("active", "In progress"),
    *DocumentStatus.choices,
]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = list(data) if isinstance(data, list | tuple) else [data]
        files = [f for f in files if f]
        if not files:
            if self.required:
                raise forms.ValidationError(
                    self.error_messages["required"], code="required"
                )
            return []
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class DocumentFilesForm(forms.Form):
    # Named like the API's multipart field. The form's metaclass moves declared
    # fields off the class, so this never shadows ``Form.files`` at run time.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Files",
        required=True,
        # Django would refuse an empty file here; the service does, with the
        # stable code ``empty_file`` shown like every other refusal.
        allow_empty_file=True,
        error_messages={"required": "Choose at least one file."},
    )


class DocumentTextForm(forms.Form):
    title = forms.CharField(max_length=500, strip=True)
    text = forms.CharField(
        strip=False, widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})
    )
    format = forms.ChoiceField(choices=TEXT_FORMATS, initial=TEXT)

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("Paste some text.", code="empty")
        return text


class DocumentReplaceForm(forms.Form):
    """A new version of one document: an uploaded file, or pasted text."""

    file = forms.FileField(
        label="Upload a new file",
        required=False,
        # As for uploads: the service refuses an empty file with ``empty_file``.
        allow_empty_file=True,
        widget=forms.FileInput(attrs={"accept": REPLACE_ACCEPT}),
    )
    text = forms.CharField(
        label="Or paste the new text",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )
    # Only the pasted text has one; a post without it (a file) means plain text.
    format = forms.ChoiceField(
        label="Format of the pasted text",
        choices=TEXT_FORMATS,
        initial=TEXT,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        file_limit = settings.ATRIUM_UPLOAD_MAX_BYTES
        self.fields["file"].help_text = (
            "PDF, Word (.docx), Markdown, HTML or plain text, up to "
            f"{filesizeformat(file_limit)}."
        )
        self.fields["file"].widget.attrs["data-max-bytes"] = file_limit
        # Form fields (unlike files) count against Django's request body
        # limit, which is checked while the CSRF token is read: past it the
        # answer is a bare 400 before any view runs. documents.js checks first.
        text_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if text_limit is not None:
            text_limit = min(text_limit - FORM_OVERHEAD_BYTES, file_limit)
            self.fields["text"].help_text = (
                f"Up to {filesizeformat(text_limit)}; save longer text as a file "
                "and upload that."
            )
            self.fields["text"].widget.attrs["data-max-bytes"] = text_limit

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        has_file = bool(cleaned.get("file"))
        has_text = bool((cleaned.get("text") or "").strip())
        if has_file and has_text:
            raise forms.ValidationError(
                "Upload a file or paste text, not both.", code="both"
            )
        if not has_file and not has_text:
            raise forms.ValidationError(
                "Choose a new file or paste the new text.", code="empty"
            )
        return cleaned

    def clean_format(self) -> str:
        return self.cleaned_data["format"] or TEXT


class DocumentFilterForm(forms.Form):
    """The list's query string: status, title search and page."""

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    q = forms.CharField(max_length=200, required=False, strip=True)
    page = forms.IntegerField(min_value=1, required=False)
