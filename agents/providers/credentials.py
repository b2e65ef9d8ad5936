"""Where a provider's key and address come from: settings, or an organization.

An organization may bring its own key (or its own server) in its settings;
the caller decrypts that entry and passes it here as `ProviderCredentials`.
The platform's key is only ever sent to the platform's configured address:
an override that names another base URL must bring its own key, so an
organization cannot point Atrium's key at a server it controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from agents.providers.errors import ProviderNotConfigured

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"


@dataclass(frozen=True)
class ProviderCredentials:
    """A key and an optional base URL; the key never shows in `repr`."""

    api_key: str = field(default="", repr=False)
    base_url: str | None = None

    def __repr__(self) -> str:
        shown = "'***'" if self.api_key else "''"
        return f"ProviderCredentials(api_key={shown}, base_url={self.base_url!r})"


def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, default)
    return str(value) if value else default


def _resolve(
    *,
    platform: ProviderCredentials,
    override: ProviderCredentials | None,
) -> ProviderCredentials:
    if override is None:
        return platform
    if override.base_url and override.base_url.rstrip("/") != (
        (platform.base_url or "").rstrip("/")
    ):
        return ProviderCredentials(api_key=override.api_key, base_url=override.base_url)
    return ProviderCredentials(
        api_key=override.api_key or platform.api_key, base_url=platform.base_url
    )


def openai_credentials(
    override: ProviderCredentials | None = None,
) -> ProviderCredentials:
    platform = ProviderCredentials(
        api_key=_setting("OPENAI_API_KEY"),
        base_url=_setting("OPENAI_BASE_URL", OPENAI_DEFAULT_BASE_URL),
    )
    resolved = _resolve(platform=platform, override=override)
    if not resolved.api_key:
        raise ProviderNotConfigured(
            "openai has no API key: set OPENAI_API_KEY or the organization's key",
            provider="openai",
        )
    return resolved


def anthropic_credentials(
    override: ProviderCredentials | None = None,
) -> ProviderCredentials:
    platform = ProviderCredentials(
        api_key=_setting("ANTHROPIC_API_KEY"),
        base_url=_setting("ANTHROPIC_BASE_URL", ANTHROPIC_DEFAULT_BASE_URL),
    )
    resolved = _resolve(platform=platform, override=override)
    if not resolved.api_key:
        raise ProviderNotConfigured(
            "anthropic has no API key: set ANTHROPIC_API_KEY or the organization's key",
            provider="anthropic",
        )
    return resolved


def compatible_credentials(
    override: ProviderCredentials | None = None,
) -> ProviderCredentials:
    """Local servers usually need no key, so only the base URL is required."""
    platform = ProviderCredentials(
        api_key=_setting("OPENAI_COMPATIBLE_API_KEY"),
        base_url=_setting("OPENAI_COMPATIBLE_BASE_URL") or None,
    )
    resolved = _resolve(platform=platform, override=override)
    if not resolved.base_url:
        raise ProviderNotConfigured(
            "openai_compatible has no server: set OPENAI_COMPATIBLE_BASE_URL or "
            "the organization's base URL",
            provider="openai_compatible",
        )
    return resolved
