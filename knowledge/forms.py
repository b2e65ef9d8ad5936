"""Forms of the dashboard's document pages.

They only parse what the browser sent; whether a file is acceptable (size,
type, plan, duplicate) is decided by the same services the API calls.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from knowledge.ingestion.formats import FORMATS_BY_EXTENSION, MARKDOWN, TEXT
from knowledge.models import DocumentStatus

# The file picker's hint; the services check every file whatever it allows.
ACCEPT = ",".join([*FORMATS_BY_EXTENSION, ".zip"])

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
    format = forms.ChoiceField(
        choices=[(TEXT, "Plain text"), (MARKDOWN, "Markdown")], initial=TEXT
    )

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("Paste some text.", code="empty")
        return text


class DocumentFilterForm(forms.Form):
    """The list's query string: status, title search and page."""

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    q = forms.CharField(max_length=200, required=False, strip=True)
    page = forms.IntegerField(min_value=1, required=False)
