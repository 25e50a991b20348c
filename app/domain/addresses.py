"""Which hosts and addresses a webhook may reach: only addresses routable on the public internet.

A URL's host is read the way the operating system reads it when it connects, not the way ``ipaddress`` does:
``getaddrinfo`` (with or without ``AI_NUMERICHOST``) takes an IPv4 address in the BSD ``inet_aton`` forms, so
``127.1``, ``2130706433``, ``0x7f000001`` and ``0177.0.0.1`` are all 127.0.0.1 and ``0`` is 0.0.0.0
(``parse_ipv4`` follows glibc's exact variant: one to four parts, each decimal, octal after a leading ``0`` or hex
after ``0x``; the last part fills the bytes that remain).

An IPv6 address is public only if it is global unicast (2000::/3) and not special-purpose (RFC 6890 registry, as
``ipaddress`` knows it), and an address that carries an IPv4 address inside it is judged by that IPv4 address, since
that is where a translator or tunnel delivers it: IPv4-mapped ::ffff:0:0/96 (RFC 4291), NAT64's well-known prefix
64:ff9b::/96 (RFC 6052) and 6to4 2002::/16 (RFC 3056). Ranges whose embedding cannot be read from the address alone,
or that are deprecated, are refused whole: IPv4-compatible ::/96 (RFC 4291 2.5.5.1), local-use NAT64 64:ff9b:1::/48
(RFC 8215) and Teredo 2001::/32 (RFC 4380). The table is written out here so the answer does not change with the
Python version (3.11's ``is_global`` calls 64:ff9b::7f00:1, 2002:7f00:1:: and ::127.0.0.1 global).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address

_DECIMAL = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")

GLOBAL_UNICAST = IPv6Network("2000::/3")
IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = IPv6Network("2002::/16")
REFUSED_IPV6 = (
    IPv6Network("::/96"),  # IPv4-compatible (deprecated), with :: and ::1
    IPv6Network("64:ff9b:1::/48"),  # local-use NAT64: where the IPv4 address sits depends on the operator
    IPv6Network("2001::/32"),  # Teredo: a tunnel to an obfuscated IPv4 client through an IPv4 server
)
_UNROUTABLE_IPV4 = (IPv4Network("0.0.0.0/8"), IPv4Network("255.255.255.255/32"))


class NotAnAddress(ValueError):
    """A host that looks numeric (its last label is a number) but is no address the system would connect to."""


def _part(text: str) -> int | None:
    if text[:2] in ("0x", "0X"):
        digits, base, allowed = text[2:], 16, _HEX
    elif len(text) > 1 and text[0] == "0":
        digits, base, allowed = text[1:], 8, _OCTAL
    else:
        digits, base, allowed = text, 10, _DECIMAL
    if not digits or not set(digits) <= allowed:
        return None
    return int(digits, base)


def parse_ipv4(text: str) -> IPv4Address | None:
    """The IPv4 address ``text`` names in ``inet_aton`` syntax (as ``getaddrinfo`` reads a numeric host), or None."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_part(part) for part in parts]
    if any(value is None for value in values):
        return None
    *leading, last = [value for value in values if value is not None]
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return IPv4Address(number)


def _ends_in_a_number(host: str) -> bool:
    # As the WHATWG URL standard's host parser: such a host is meant as an address, never looked up as a name.
    last = host.split(".")[-1]
    return bool(last) and (set(last) <= _DECIMAL or (last[:2] in ("0x", "0X") and set(last[2:]) <= _HEX))


def host_address(host: str) -> IPAddress | None:
    """The address a URL's host (brackets removed, as ``urlsplit`` gives it) names, or None for a name to be looked
    up. Raises ``NotAnAddress`` for a host that looks numeric but is not an address (``1.2.3.256``, ``08``)."""
    if ":" in host:
        try:
            return IPv6Address(host)
        except ValueError:
            raise NotAnAddress(f"{host} is not an IPv6 address") from None
    numeric = host[:-1] if host.endswith(".") else host
    address = parse_ipv4(numeric)
    if address is None and _ends_in_a_number(numeric):
        raise NotAnAddress(f"{host} is not an IPv4 address")
    return address


def is_local_name(host: str) -> bool:
    """``localhost`` and its subdomains, which resolvers answer with loopback (RFC 6761 6.3)."""
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 (well-known prefix) or 6to4 address delivers to."""
    if address in IPV4_MAPPED or address in NAT64_WELL_KNOWN:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if address in SIX_TO_FOUR:
        return address.sixtofour
    return None


def is_public(address: IPAddress | str) -> bool:
    """Whether a connection to ``address`` can only reach the public internet (not this host, its networks, a
    cloud metadata service, multicast, or a range reserved for something else)."""
    if isinstance(address, str):
        address = ip_address(address)
    if isinstance(address, IPv6Address):
        if address.scope_id is not None or any(address in network for network in REFUSED_IPV6):
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
        return address in GLOBAL_UNICAST and address.is_global
    return address.is_global and not address.is_multicast and not any(address in n for n in _UNROUTABLE_IPV4)
