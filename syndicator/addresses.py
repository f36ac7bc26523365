"""Which addresses a URL from outside may reach.

The configuration file is trusted as written: whoever writes it runs the
service. A URL that came from elsewhere (an imported OPML file) is not: it
must be http(s) to a public address, or a feed list from the web could make
the daemon read its own host's services (``http://127.0.0.1:…``), the cloud
metadata service (``http://169.254.169.254/``) or the private network, and
republish what they answer. The same check runs on every redirect hop.

``resolve`` is the one place names become addresses; tests replace it (a
stub resolver maps test names to chosen addresses) — see ``set_resolver``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str], list[str]]


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), as strings."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_resolver: Resolver = system_resolver


def set_resolver(resolver: Resolver | None) -> Resolver:
    """Install ``resolver`` (None: the system's); returns the previous one (tests restore it)."""
    global _resolver
    previous, _resolver = _resolver, resolver or system_resolver
    return previous


def resolve(host: str) -> list[str]:
    return _resolver(host)


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a public one (None when it is)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    for test, what in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local (cloud metadata lives at 169.254.169.254)"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    ):
        if test:
            return f"{ip} is a {what} address"
    return None


class Refused(ValueError):
    """A URL from outside points somewhere it may not (the message says where and why)."""


class Unresolved(Refused):
    """The URL's host name resolves to nothing (now)."""


def public_addresses(url: str) -> list[str]:
    """The public addresses ``url``'s host has; raises ``Refused`` saying why it may not be fetched.

    Every address the host name resolves to must be public: a name that
    resolves to one public and one private address is refused, because the
    connection could use either.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"{url}: only http and https URLs are allowed here, not {parts.scheme or 'a local path'!r}")
    host = parts.hostname
    if not host:
        raise Refused(f"{url}: no host name")
    if _is_ip(host):
        addresses = [host]
    else:
        try:
            addresses = resolve(host)
        except (OSError, UnicodeError) as exc:
            raise Unresolved(f"{url}: cannot resolve {host}: {exc}") from None
        if not addresses:
            raise Unresolved(f"{url}: {host} resolves to no address")
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise Refused(f"{url}: {host} -> {problem}")
    return addresses


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be fetched on behalf of someone outside (None when it may)."""
    try:
        public_addresses(url)
    except Refused as exc:
        return str(exc)
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
