"""Where a provider's key and address come from: settings, or an organization.

An organization may bring its own key (or its own server) in its settings;
the caller decrypts that entry and passes it here as `ProviderCredentials`.
The platform's key is only ever sent to the platform's configured address:
an override that names another base URL must bring its own key, so an
organization cannot point Atrium's key at a server it controls. Such an
address must also pass the address guard (`agents.providers.addresses`), at
once and pinned, so it cannot point Atrium's workers inside its network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from agents.providers.addresses import ProviderURLRefused, base_url_check
from agents.providers.errors import ProviderAddressRefused, ProviderNotConfigured
from tenancy.addresses import Target

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"

# Per provider: the settings of the platform's key and address, and the
# address to use when the setting is empty.
PLATFORM_SETTINGS = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", OPENAI_DEFAULT_BASE_URL),
    "anthropic": (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        ANTHROPIC_DEFAULT_BASE_URL,
    ),
    "openai_compatible": (
        "OPENAI_COMPATIBLE_API_KEY",
        "OPENAI_COMPATIBLE_BASE_URL",
        "",
    ),
}


@dataclass(frozen=True)
class ProviderCredentials:
    """A key and an optional base URL; the key never shows in `repr`.

    `pinned` is set for an organization's own server: the checked address
    every request must connect to.
    """

    api_key: str = field(default="", repr=False)
    base_url: str | None = None
    pinned: Target | None = None

    def __repr__(self) -> str:
        shown = "'***'" if self.api_key else "''"
        return f"ProviderCredentials(api_key={shown}, base_url={self.base_url!r})"


def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, default)
    return str(value) if value else default


def platform_credentials(provider: str) -> ProviderCredentials:
    """The operator's key and address for ``provider``, from settings."""
    key, address, default = PLATFORM_SETTINGS[provider]
    return ProviderCredentials(
        api_key=_setting(key), base_url=_setting(address, default) or None
    )


def _same_address(one: str | None, other: str | None) -> bool:
    return (one or "").rstrip("/") == (other or "").rstrip("/")


def organization_base_url_check(*, provider: str, base_url: str) -> Target | None:
    """Check a base URL an organization names for ``provider``.

    The platform's own address for the provider is trusted and returns None;
    any other is resolved and returned as the checked target, or refused
    with ``ProviderURLRefused`` (``tenancy.addresses`` gives the reasons).
    """
    if _same_address(base_url, platform_credentials(provider).base_url):
        return None
    return base_url_check(base_url)


def _resolve(
    provider: str, override: ProviderCredentials | None
) -> ProviderCredentials:
    platform = platform_credentials(provider)
    if override is None:
        return platform
    if override.base_url and not _same_address(override.base_url, platform.base_url):
        try:
            target = base_url_check(override.base_url)
        except ProviderURLRefused as refused:
            reason = str(refused.details.get("reason", "address"))
            raise ProviderAddressRefused(
                f"the organization's {provider} server is refused "
                f"({refused.message}); an admin must store an allowed base URL",
                provider=provider,
                reason=reason,
            ) from None
        return ProviderCredentials(
            api_key=override.api_key, base_url=override.base_url, pinned=target
        )
    return ProviderCredentials(
        api_key=override.api_key or platform.api_key, base_url=platform.base_url
    )


def openai_credentials(
    override: ProviderCredentials | None = None,
) -> ProviderCredentials:
    resolved = _resolve("openai", override)
    if not resolved.api_key:
        raise ProviderNotConfigured(
            "openai has no API key: set OPENAI_API_KEY or the organization's key",
            provider="openai",
        )
    return resolved


def anthropic_credentials(
    override: ProviderCredentials | None = None,
) -> ProviderCredentials:
    resolved = _resolve("anthropic", override)
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
    resolved = _resolve("openai_compatible", override)
    if not resolved.base_url:
        raise ProviderNotConfigured(
            "openai_compatible has no server: set OPENAI_COMPATIBLE_BASE_URL or "
            "the organization's base URL",
            provider="openai_compatible",
        )
    return resolved
