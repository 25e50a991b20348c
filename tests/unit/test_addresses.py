"""Unit tests of the webhook address rules: hosts read as the operating system reads them, and only globally
routable addresses called public, IPv4 addresses hidden inside IPv6 ones included.

Pure: no network (``getaddrinfo`` with ``AI_NUMERICHOST`` only parses, it never looks a name up).
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.domain.addresses import NotAnAddress, embedded_ipv4, host_address, is_local_name, is_public, parse_ipv4

LOOPBACK_IN_DISGUISE = [
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "017700000001",
    "0x7f.1",
    "127.0.1",
    "0X7F.0.0.1",
]


def os_reading(text: str) -> IPv4Address | None:
    """The IPv4 address the C library reads in a numeric host, as a socket connecting to ``text`` would."""
    try:
        infos = socket.getaddrinfo(text.encode(), None, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        return None
    return IPv4Address(infos[0][4][0])


@pytest.mark.parametrize("host", LOOPBACK_IN_DISGUISE)
def test_numeric_forms_of_loopback_are_read_as_the_os_reads_them(host):
    assert parse_ipv4(host) == IPv4Address("127.0.0.1") == os_reading(host)
    assert host_address(host) == IPv4Address("127.0.0.1")
    assert not is_public(host_address(host))


def test_zero_is_the_unspecified_address_and_not_public():
    assert host_address("0") == host_address("0.0") == host_address("00") == IPv4Address("0.0.0.0")
    assert not is_public(IPv4Address("0.0.0.0"))
    assert not is_public(IPv4Address("0.1.2.3"))  # 0.0.0.0/8: "this network"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("8.8.2056", "8.8.8.8"),  # the last part fills the two bytes left
        ("8.526344", "8.8.8.8"),
        ("134744072", "8.8.8.8"),
        ("0xffffffff", "255.255.255.255"),
        ("010.0.0.1", "8.0.0.1"),  # a leading zero is octal, not decimal
        ("1.2.3.256", None),
        ("1.2.65536", None),
        ("4294967296", None),
        ("0x100000000", None),
        ("08", None),
        ("0x", None),
        ("1..2", None),
        ("1.2.3.4.5", None),
        ("", None),
        ("+1", None),
        (" 1.2.3.4", None),
        ("1.2.3.4 ", None),
        ("١.٢.٣.٤", None),  # Arabic-Indic digits are digits to str.isdigit, not to the C library
        ("example.com", None),
    ],
)
def test_parse_ipv4_agrees_with_the_os(text, expected):
    assert parse_ipv4(text) == (IPv4Address(expected) if expected else None)
    if text.isascii():
        assert os_reading(text) == parse_ipv4(text)


@given(st.text(alphabet="0123456789abcdefxX.", max_size=24))
@example("0x7f.1")
@example("0.0.0.0x0")
@example("00000000000000000000001")
def test_parse_ipv4_agrees_with_the_os_on_any_numeric_looking_text(text):
    assert parse_ipv4(text) == os_reading(text)


@pytest.mark.parametrize("host", ["1.2.3.256", "08", "0x", "a1.2", "999999999999", "1.2.3.4.5", "::1::", "fe80::zz"])
def test_hosts_that_look_numeric_but_are_no_address_are_refused(host):
    with pytest.raises(NotAnAddress):
        host_address(host)


@pytest.mark.parametrize("host", ["example.com", "hooks.example.com.", "1e100.net", "0x7f.example", "0x1g"])
def test_names_are_left_to_be_resolved(host):
    assert host_address(host) is None


def test_a_trailing_dot_does_not_hide_an_address():
    assert host_address("127.0.0.1.") == IPv4Address("127.0.0.1")


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost"])
def test_localhost_names(host):
    assert is_local_name(host)


def test_other_names_are_not_localhost():
    assert not is_local_name("localhost.example.com")
    assert not is_local_name("mylocalhost")


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4
        ("2002:a00:1:1::5", "10.0.0.1"),
        ("2001:db8::1", None),
    ],
)
def test_embedded_ipv4(address, inner):
    assert embedded_ipv4(IPv6Address(address)) == (IPv4Address(inner) if inner else None)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.10",
        "169.254.169.254",
        "100.64.0.1",  # carrier-grade NAT
        "192.0.0.1",
        "198.18.0.1",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%2",
        "fc00::1",
        "fd00::1",
        "fec0::1",
        "ff02::1",
        "ff0e::1",
        "2001:db8::1",
        # Python 3.11's is_global calls these public:
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "64:ff9b:1::7f00:1",  # local-use NAT64: refused whatever it embeds
        "64:ff9b:1::808:808",
        "2002:7f00:1::",
        "2002:c0a8:1::1",
        "::127.0.0.1",  # IPv4-compatible: refused whatever it embeds
        "::8.8.8.8",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:0:127.0.0.1",  # SIIT IPv4-translated: outside global unicast
        "2001::1",  # Teredo
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo with a public server and client
        "100::1",  # discard-only
        "4000::1",  # not allocated
    ],
)
def test_addresses_that_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.215.14",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "64:ff9b::808:808",  # NAT64 to a public IPv4 address
        "2002:808:808::1",  # 6to4 of a public IPv4 address
        "::ffff:8.8.8.8",
    ],
)
def test_public_addresses(address):
    assert is_public(address)


@pytest.mark.parametrize(
    "host",
    [
        "example.123",  # the last label is a number: meant as an address, never looked up
        "x.9876543210",  # every decimal digit
        "x.0x",  # "0x" alone is the hex number 0 (WHATWG's IPv4 number parser)
        "x.0x1",
        "x.0X1F",
        "x.0x0123456789abcdefABCDEF",  # every hex digit, in both cases
        "x.0x.",  # a trailing dot is ignored
    ],
)
def test_a_name_whose_last_label_is_a_number_is_refused_as_an_address(host):
    with pytest.raises(NotAnAddress) as info:
        host_address(host)
    assert str(info.value) == f"{host} is not an IPv4 address"


@pytest.mark.parametrize("host", ["123.example", "example.123.com", "x.0xg", "x.x0", "x.12a", "example..", "x.1x"])
def test_a_name_whose_last_label_is_no_number_is_looked_up(host):
    assert host_address(host) is None


def test_a_malformed_ipv6_address_is_refused_with_its_text():
    with pytest.raises(NotAnAddress) as info:
        host_address("fe80::zz")
    assert str(info.value) == "fe80::zz is not an IPv6 address"


def test_an_ipv6_host_is_its_address():
    assert host_address("2001:db8::1") == IPv6Address("2001:db8::1")


def test_a_scoped_address_is_never_public_even_if_global():
    assert is_public("2a00:1450:4001:800::200e")
    assert not is_public("2a00:1450:4001:800::200e%1")


def test_parse_ipv4_limits():
    assert parse_ipv4("1.2.3.4.0") is None  # five parts
    assert parse_ipv4("255.255.255.255") == IPv4Address("255.255.255.255")
    assert parse_ipv4("256.1.1.1") is None
    assert parse_ipv4("01234567") == IPv4Address(0o1234567)  # every octal digit
    assert parse_ipv4("9876543210") is None  # every decimal digit, too big
    assert parse_ipv4("987654321") == IPv4Address(987654321)
