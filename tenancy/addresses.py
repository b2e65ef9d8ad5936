"""Which URLs Atrium's servers may call on a customer's behalf.

Customers choose some of the URLs Atrium calls (webhook receivers, an
organization's own model server), and those calls start inside Atrium's
network, so they must not reach private, loopback, link-local or otherwise
non-public addresses (server-side request forgery). The host is resolved
and every address checked when the URL is saved and again before it is
called, and the caller connects to the address that was checked, so a name
that later resolves elsewhere (DNS rebinding) gains nothing.

Each use brings a :class:`Policy`: the error it raises, and an
:class:`AllowList` of host names and networks the operator opened on
purpose (loopback for webhooks in development, an internal model server).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from tenancy.errors import URLRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = r"[a-z0-9_-]{1,63}"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


@dataclass(frozen=True)
class AllowList:
    """Host names and networks admitted although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], *, setting: str) -> AllowList:
        """Read a setting's entries: CIDRs or addresses, else exact host names."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(entry):
                raise ImproperlyConfigured(
                    f"{setting}: {raw!r} is neither a host name nor an address "
                    "or CIDR network."
                )
            hosts.add(entry)
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def admits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def admits(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


LOOPBACK = AllowList(
    networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
)


@dataclass(frozen=True)
class Policy:
    """What one kind of outbound call may reach.

    ``public_http`` lets plain ``http`` go to public addresses; without it
    only allow-listed addresses may be called without TLS.
    """

    refusal: type[URLRefused] = URLRefused
    allowed: AllowList = field(default_factory=AllowList)
    public_http: bool = False


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


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def address_public(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet (IPv4-mapped included)."""
    address = _unmapped(address)
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def address_allowed(address: IPAddress, *, allowed: AllowList) -> bool:
    """Whether ``address`` is public or inside one of the allowed networks."""
    return address_public(address) or allowed.admits(_unmapped(address))


def _resolve(host: str, port: int, policy: Policy) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise policy.refusal(
            "The URL's host name does not resolve.", reason="unresolvable"
        ) from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def url_check(url: str, *, policy: Policy) -> Target:
    """Resolve ``url`` and refuse it unless ``policy`` allows every address.

    Raises ``policy.refusal`` with a ``reason`` of ``malformed``, ``scheme``,
    ``credentials``, ``port``, ``unresolvable`` or ``address``.
    """
    refuse = policy.refusal
    try:
        parts = urlsplit(url)
    except ValueError:
        raise refuse("The URL is not well formed.", reason="malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise refuse("The URL must be http(s) with a host.", reason="scheme")
    if parts.username or parts.password:
        raise refuse(
            "The URL must not carry a user name or password.", reason="credentials"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        port = 443 if scheme == "https" else 80
    if not port:
        raise refuse("The URL's port is not valid.", reason="port")

    addresses = _resolve(parts.hostname, port, policy)
    if policy.allowed.admits_host(parts.hostname):
        admitted = addresses
    else:
        admitted = [a for a in addresses if policy.allowed.admits(_unmapped(a))]
    refused = [a for a in addresses if a not in admitted and not address_public(a)]
    if refused or not addresses:
        raise refuse(
            "The URL points at a private, loopback or reserved address.",
            reason="address",
        )
    if scheme == "http" and not policy.public_http and admitted != addresses:
        raise refuse("This URL must use https.", reason="scheme")

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
