"""Which URLs Atrium's servers may call on a customer's behalf.

A webhook URL is chosen by a customer and called from inside Atrium's
network, so it must not reach private, loopback, link-local or otherwise
non-public addresses (server-side request forgery). The host is resolved
and every address checked when the endpoint is saved and again before each
delivery, and the delivery connects to the address that was checked, so a
name that later resolves elsewhere (DNS rebinding) gains nothing.

``ATRIUM_WEBHOOK_ALLOW_LOOPBACK`` admits loopback addresses (and plain
``http``) for development and tests; private ranges stay refused.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from tenancy.errors import WebhookURLRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to call the host."""

    scheme: str
    host: str
    port: int
    address: IPAddress
    path: str

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def _loopback_allowed() -> bool:
    return bool(settings.ATRIUM_WEBHOOK_ALLOW_LOOPBACK)


def address_allowed(address: IPAddress) -> bool:
    """Whether ``address`` is public (or loopback, where that is allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return _loopback_allowed()
    return address.is_global and not (
        address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookURLRefused(
            "The URL's host name does not resolve.", reason="unresolvable"
        ) from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def url_check(url: str) -> Target:
    """Resolve ``url`` and refuse it unless every address it names is allowed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise WebhookURLRefused("The URL must be http(s) with a host.", reason="scheme")
    if parts.username or parts.password:
        raise WebhookURLRefused(
            "The URL must not carry credentials; verify the signature instead.",
            reason="credentials",
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise WebhookURLRefused("The URL's port is not valid.", reason="port") from None

    addresses = _resolve(parts.hostname, port)
    refused = [a for a in addresses if not address_allowed(a)]
    if refused or not addresses:
        raise WebhookURLRefused(
            "The URL points at a private, loopback or reserved address.",
            reason="address",
        )
    if scheme == "http" and not all(a.is_loopback for a in addresses):
        raise WebhookURLRefused("Webhook URLs must use https.", reason="scheme")

    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        address=addresses[0],
        path=path,
    )
