"""Where an organization's own model server may be, and how Atrium reaches it.

An organization's base URL is called from Atrium's workers, so it passes the
same guard as webhook URLs (``tenancy.addresses``): public addresses only,
plus the host names and networks the operator lists in
``ATRIUM_PROVIDER_ALLOWED_HOSTS`` for an internal model server. The URL is
checked when it is stored and again each time a model is built for a call,
and that model's HTTP client connects only to the address that was checked.
The platform's own addresses (settings) are trusted and never pass here.
"""

from __future__ import annotations

from typing import Any

import httpx2
from django.conf import settings

from tenancy.addresses import AllowList, Policy, Target, url_check
from tenancy.errors import URLRefused

SETTING = "ATRIUM_PROVIDER_ALLOWED_HOSTS"


class ProviderURLRefused(URLRefused):
    """An organization's base URL that Atrium will not call."""

    code = "provider_url_refused"

    def __init__(self, message: str, **details: Any):
        super().__init__(message, field="base_url", **details)


def url_policy() -> Policy:
    """Public addresses over http or https, and what the operator allowed."""
    allowed = AllowList.parse(settings.ATRIUM_PROVIDER_ALLOWED_HOSTS, setting=SETTING)
    return Policy(refusal=ProviderURLRefused, allowed=allowed, public_http=True)


def base_url_check(url: str) -> Target:
    """Resolve an organization's base URL; raise ``ProviderURLRefused`` if barred."""
    return url_check(url, policy=url_policy())


class PinnedTransport(httpx2.HTTPTransport):
    """Send every request to the checked address, whatever DNS says now.

    The request keeps its host name in the ``Host`` header and, over TLS, in
    SNI and certificate verification; only the connection is pinned. A
    request for any other host (nothing the SDKs send) is refused.
    """

    def __init__(self, target: Target, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        default_port = 443 if url.scheme == "https" else 80
        if (
            url.scheme != self.target.scheme
            or url.host != self.target.host
            or (url.port or default_port) != self.target.port
        ):
            raise httpx2.ConnectError(
                "Only the organization's checked server may be called.",
                request=request,
            )
        request.extensions = {
            **request.extensions,
            "sni_hostname": url.raw_host.decode("ascii"),
        }
        request.url = url.copy_with(host=str(self.target.address))
        return super().handle_request(request)


def pinned_client(
    target: Target | None, client_class: type[httpx2.Client]
) -> httpx2.Client | None:
    """An SDK's HTTP client (``client_class``) bound to ``target``'s address.

    None without a target: the SDK's own client then serves the platform's
    address. Redirects are not followed (they could lead anywhere) and
    proxies from the environment are ignored (they would resolve the name
    again).
    """
    if target is None:
        return None
    return client_class(
        transport=PinnedTransport(target),
        follow_redirects=False,
        trust_env=False,
    )
