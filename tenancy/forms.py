"""Forms of the dashboard's organization and workspace pages."""

from __future__ import annotations

from django import forms


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
