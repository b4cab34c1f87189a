"""Strict parsing of addresses, CIDRs, ports, origin URLs and hostnames; embedded IPv4."""

import random

import netaddr
import pytest

from saltext.spectrum_acl.core import embedded, parse
from saltext.spectrum_acl.errors import OriginSyntaxError

# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    "text, network, scheme, ports",
    [
        pytest.param("1.2.3.4", "1.2.3.4/32", None, None, id="ipv4"),
        pytest.param("0.0.0.0", "0.0.0.0/32", None, None, id="ipv4-zero"),
        pytest.param("255.255.255.255", "255.255.255.255/32", None, None, id="ipv4-max"),
        pytest.param("10.0.0.0/8", "10.0.0.0/8", None, None, id="ipv4-cidr"),
        pytest.param("1.2.3.4/32", "1.2.3.4/32", None, None, id="ipv4-cidr-32"),
        pytest.param("0.0.0.0/0", "0.0.0.0/0", None, None, id="ipv4-cidr-0"),
        pytest.param("2001:db8::1", "2001:db8::1/128", None, None, id="ipv6"),
        pytest.param("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128", None, None, id="ipv6-long"),
        pytest.param("::", "::/128", None, None, id="ipv6-unspecified"),
        pytest.param("::1", "::1/128", None, None, id="ipv6-loopback"),
        pytest.param("::ffff:1.2.3.4", "::ffff:1.2.3.4/128", None, None, id="ipv6-mapped"),
        pytest.param("::1.2.3.4", "::1.2.3.4/128", None, None, id="ipv6-compatible"),
        pytest.param("64:ff9b::8.8.8.8", "64:ff9b::808:808/128", None, None, id="ipv6-nat64-dotted"),
        pytest.param("2001:db8::/32", "2001:db8::/32", None, None, id="ipv6-cidr"),
        pytest.param("::/0", "::/0", None, None, id="ipv6-cidr-0"),
        pytest.param("::ffff:0:0/96", "::ffff:0:0/96", None, None, id="ipv6-mapped-cidr"),
        pytest.param("2001:db8::1/128", "2001:db8::1/128", None, None, id="ipv6-cidr-128"),
        pytest.param("tcp://1.2.3.4:22", "1.2.3.4/32", "tcp", (22, 22), id="url-tcp"),
        pytest.param("udp://1.2.3.4:53", "1.2.3.4/32", "udp", (53, 53), id="url-udp"),
        pytest.param("tcp://1.2.3.4:1", "1.2.3.4/32", "tcp", (1, 1), id="url-port-1"),
        pytest.param("tcp://1.2.3.4:65535", "1.2.3.4/32", "tcp", (65535, 65535), id="url-port-65535"),
        pytest.param("tcp://1.2.3.4:1-65535", "1.2.3.4/32", "tcp", (1, 65535), id="url-port-full-range"),
        pytest.param("tcp://1.2.3.4:22-22", "1.2.3.4/32", "tcp", (22, 22), id="url-port-range-of-one"),
        pytest.param("udp://[2001:db8::1]:1000-2000", "2001:db8::1/128", "udp", (1000, 2000), id="url-ipv6-range"),
        pytest.param("tcp://[::ffff:1.2.3.4]:443", "::ffff:1.2.3.4/128", "tcp", (443, 443), id="url-ipv6-mapped"),
    ],
)
def test_parse_origin_accepts(text, network, scheme, ports):
    origin = parse.parse_origin(text)
    assert origin.text == text
    assert origin.network == netaddr.IPNetwork(network)
    assert origin.network.prefixlen == netaddr.IPNetwork(network).prefixlen
    assert origin.scheme == scheme
    assert origin.ports == ports


@pytest.mark.parametrize(
    "text, version, value",
    [
        pytest.param("192.0.2.1", 4, 0xC0000201, id="ipv4"),
        pytest.param("::ffff:1.2.3.4", 6, 0xFFFF01020304, id="mapped"),
        pytest.param("fe80::1", 6, 0xFE80 << 112 | 1, id="link-local-no-zone"),
    ],
)
def test_parse_address_accepts(text, version, value):
    address = parse.parse_address(text)
    assert address.version == version
    assert int(address) == value


# --------------------------------------------------------------------------- rejected

ARABIC_INDIC = "\u0661.\u0662.\u0663.\u0664"  # ١.٢.٣.٤
FULLWIDTH = "\uff11.\uff12.\uff13.\uff14"  # １.２.３.４
DEVANAGARI = "\u0967\u0968\u096d.0.0.1"

REJECTED_ORIGINS = [
    pytest.param("2130706433", id="decimal-integer"),
    pytest.param("0x7f000001", id="hex-integer"),
    pytest.param("0X7F000001", id="hex-integer-upper"),
    pytest.param("0x7f.0.0.1", id="hex-octet"),
    pytest.param("010.0.0.1", id="octal-leading-zero"),
    pytest.param("1.2.3.04", id="leading-zero-last-octet"),
    pytest.param("00.0.0.0", id="double-zero-octet"),
    pytest.param("0177.0.0.1", id="octal-loopback"),
    pytest.param("127.1", id="short-127.1"),
    pytest.param("10.1", id="short-10.1"),
    pytest.param("1.2.3", id="short-three-parts"),
    pytest.param("1.2.3.4.5", id="five-parts"),
    pytest.param("256.0.0.1", id="octet-256"),
    pytest.param("1.2.3.", id="trailing-dot"),
    pytest.param("1..2.3", id="empty-octet"),
    pytest.param("+1.2.3.4", id="plus-sign"),
    pytest.param("fe80::1%eth0", id="zone-id"),
    pytest.param("fe80::1%1", id="zone-id-numeric"),
    pytest.param(" 1.2.3.4", id="leading-space"),
    pytest.param("1.2.3.4 ", id="trailing-space"),
    pytest.param("1.2.3.4\n", id="trailing-newline"),
    pytest.param("\t1.2.3.4", id="leading-tab"),
    pytest.param("1.2.3.4\u00a0", id="nbsp"),
    pytest.param("1.2. 3.4", id="inner-space"),
    pytest.param(ARABIC_INDIC, id="arabic-indic-digits"),
    pytest.param(FULLWIDTH, id="fullwidth-digits"),
    pytest.param(DEVANAGARI, id="devanagari-digits"),
    pytest.param("1.2.3.4\uff0f24", id="fullwidth-slash"),
    pytest.param("1.2.3.0/255.255.255.0", id="netmask"),
    pytest.param("1.2.3.0/0.0.0.255", id="hostmask"),
    pytest.param("2001:db8::/ffff:ffff::", id="ipv6-netmask"),
    pytest.param("1.2.3.1/24", id="host-bits-ipv4"),
    pytest.param("10.0.0.1/8", id="host-bits-ipv4-8"),
    pytest.param("2001:db8::1/32", id="host-bits-ipv6"),
    pytest.param("::ffff:1.2.3.4/120", id="host-bits-mapped"),
    pytest.param("1.2.3.4/33", id="prefixlen-33"),
    pytest.param("2001:db8::/129", id="prefixlen-129"),
    pytest.param("1.2.3.0/024", id="prefixlen-leading-zero"),
    pytest.param("1.2.3.0/-1", id="prefixlen-negative"),
    pytest.param("1.2.3.0/", id="prefixlen-empty"),
    pytest.param("/24", id="address-empty"),
    pytest.param("010.0.0.0/8", id="cidr-octal-address"),
    pytest.param("fe80::%eth0/64", id="cidr-zone-id"),
    pytest.param("1.2.3.0/24/24", id="two-slashes"),
    pytest.param("", id="empty"),
    pytest.param("1::2::3", id="ipv6-two-double-colons"),
    pytest.param("2001:00db8::1", id="ipv6-five-hex-digits"),
    pytest.param("g::1", id="ipv6-bad-hex"),
    pytest.param("1:2:3:4:5:6:7:8:9", id="ipv6-nine-groups"),
    pytest.param("1::2:3:4:5:6:7:8", id="ipv6-double-colon-for-no-group"),
    pytest.param("1:2:3:4:5:6:7:", id="ipv6-trailing-colon"),
    pytest.param(":1:2:3:4:5:6:7", id="ipv6-leading-colon"),
    pytest.param("::ffff:256.1.1.1", id="ipv6-embedded-octet-256"),
    pytest.param("::ffff:1.2.3.4.5", id="ipv6-embedded-five-parts"),
    pytest.param("::ffff:1.2.3", id="ipv6-short-embedded-ipv4"),
    pytest.param("::ffff:01.2.3.4", id="ipv6-embedded-leading-zero"),
    pytest.param("::ffff:0x7f.0.0.1", id="ipv6-embedded-hex"),
    pytest.param("[2001:db8::1]", id="ipv6-brackets-without-url"),
    pytest.param("localhost", id="hostname"),
    pytest.param("tcp://1.2.3.4:0", id="port-0"),
    pytest.param("tcp://1.2.3.4:65536", id="port-65536"),
    pytest.param("tcp://1.2.3.4:99999", id="port-99999"),
    pytest.param("tcp://1.2.3.4:-1", id="port-negative"),
    pytest.param("tcp://1.2.3.4:022", id="port-leading-zero"),
    pytest.param("tcp://1.2.3.4:22-20", id="port-range-reversed"),
    pytest.param("tcp://1.2.3.4:0-20", id="port-range-from-0"),
    pytest.param("tcp://1.2.3.4:1000-65536", id="port-range-to-65536"),
    pytest.param("tcp://1.2.3.4:1-2-3", id="port-range-three-parts"),
    pytest.param("tcp://1.2.3.4:ssh", id="port-name"),
    pytest.param("tcp://1.2.3.4:", id="port-empty"),
    pytest.param("tcp://1.2.3.4", id="port-missing"),
    pytest.param("tcp://[2001:db8::1]", id="port-missing-ipv6"),
    pytest.param("tcp://1.2.3.4:22/", id="url-trailing-slash"),
    pytest.param("tcp://2001:db8::1:22", id="url-ipv6-without-brackets"),
    pytest.param("tcp://[1.2.3.4]:22", id="url-ipv4-in-brackets"),
    pytest.param("tcp://1.2.3.0/24:22", id="url-cidr"),
    pytest.param("tcp://:22", id="url-no-host"),
    pytest.param("http://1.2.3.4:80", id="url-scheme-http"),
    pytest.param("TCP://1.2.3.4:22", id="url-scheme-upper"),
    pytest.param("sctp://1.2.3.4:22", id="url-scheme-sctp"),
    pytest.param("://1.2.3.4:22", id="url-scheme-empty"),
    pytest.param("tcp://user@1.2.3.4:22", id="url-userinfo"),
    pytest.param("tcp://localhost:22", id="url-hostname"),
    pytest.param("tcp://127.1:22", id="url-short-form"),
    pytest.param("tcp://2130706433:22", id="url-integer"),
    pytest.param("tcp://0x7f.0.0.1:8080", id="url-hex"),
    pytest.param("tcp://1.2.3.04:22", id="url-leading-zero"),
    pytest.param("tcp://[fe80::1%eth0]:22", id="url-zone-id"),
    pytest.param(" tcp://1.2.3.4:22", id="url-leading-space"),
    pytest.param("tcp://1.2.3.4:22\n", id="url-trailing-newline"),
    pytest.param("tcp://\u0661.2.3.4:22", id="url-arabic-digit"),
]


@pytest.mark.parametrize("text", REJECTED_ORIGINS)
def test_parse_origin_rejects(text):
    with pytest.raises(OriginSyntaxError) as excinfo:
        parse.parse_origin(text)
    # the error is a ValueError too, and a single line
    assert isinstance(excinfo.value, ValueError)
    assert "is not a valid" in str(excinfo.value)


# Errors name the input, also for URLs and CIDRs whose address part is bad.
_URL_ADDRESS_ERRORS = {
    "url-short-form",
    "url-integer",
    "url-hex",
    "url-leading-zero",
    "url-zone-id",
    "url-ipv6-without-brackets",
    "url-userinfo",
    "url-hostname",
    "address-empty",
    "cidr-octal-address",
    "cidr-zone-id",
}


def _params_without(ids):
    return [p for p in REJECTED_ORIGINS if p.id not in ids]


@pytest.mark.parametrize("text", _params_without(_URL_ADDRESS_ERRORS))
def test_parse_origin_error_names_the_input(text):
    with pytest.raises(OriginSyntaxError) as excinfo:
        parse.parse_origin(text)
    assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize("text", [p for p in REJECTED_ORIGINS if p.id in _URL_ADDRESS_ERRORS])
def test_parse_origin_error_names_the_whole_origin(text):
    with pytest.raises(OriginSyntaxError) as excinfo:
        parse.parse_origin(text)
    assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize(
    "text, fragment",
    [
        pytest.param("2130706433", "integer", id="integer"),
        pytest.param("0x7f000001", "hexadecimal", id="hex"),
        pytest.param("0x7f.0.0.1", "hexadecimal", id="hex-octet"),
        pytest.param("010.0.0.1", "leading zero", id="octal"),
        pytest.param("127.1", "four decimal octets", id="short"),
        pytest.param("256.0.0.1", "out of range", id="range"),
        pytest.param("fe80::1%eth0", "zone", id="zone"),
        pytest.param(" 1.2.3.4", "whitespace", id="whitespace"),
        pytest.param(FULLWIDTH, "non-ASCII", id="fullwidth"),
        pytest.param("1.2.3.0/255.255.255.0", "netmask", id="netmask"),
        pytest.param("1.2.3.1/24", "host bits", id="host-bits"),
        pytest.param("1.2.3.1/24", "1.2.3.0/24", id="host-bits-names-network"),
        pytest.param("1.2.3.0/33", "prefix length", id="prefixlen"),
        pytest.param("tcp://1.2.3.4:65536", "65536", id="port"),
        pytest.param("tcp://1.2.3.4:22-20", "below", id="port-range-order"),
        pytest.param("tcp://1.2.3.4", "no port", id="missing-port"),
        pytest.param("http://1.2.3.4:80", "scheme", id="scheme"),
        pytest.param("tcp://[1.2.3.4]:22", "brackets", id="brackets"),
    ],
)
def test_rejection_says_why(text, fragment):
    with pytest.raises(OriginSyntaxError) as excinfo:
        parse.parse_origin(text)
    assert fragment in str(excinfo.value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(2130706433, id="int"),
        pytest.param(b"1.2.3.4", id="bytes"),
        pytest.param(["1.2.3.4"], id="list"),
    ],
)
def test_parse_network_rejects_non_strings(value):
    with pytest.raises(OriginSyntaxError):
        parse.parse_network(value)


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("22", (22, 22), id="str"),
        pytest.param(22, (22, 22), id="int"),
        pytest.param("1", (1, 1), id="min"),
        pytest.param("65535", (65535, 65535), id="max"),
        pytest.param("1000-2000", (1000, 2000), id="range"),
        pytest.param("5-5", (5, 5), id="range-of-one"),
    ],
)
def test_parse_port_range_accepts(value, expected):
    assert parse.parse_port_range(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0", id="zero"),
        pytest.param(0, id="zero-int"),
        pytest.param("65536", id="65536"),
        pytest.param(65536, id="65536-int"),
        pytest.param("-1", id="negative"),
        pytest.param(-1, id="negative-int"),
        pytest.param("22-20", id="reversed"),
        pytest.param("22-", id="open-end"),
        pytest.param("-22", id="open-start"),
        pytest.param("022", id="leading-zero"),
        pytest.param(" 22", id="space"),
        pytest.param("22.0", id="float-text"),
        pytest.param(22.0, id="float"),
        pytest.param(True, id="bool"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
        pytest.param("\uff12\uff12", id="fullwidth"),
    ],
)
def test_parse_port_range_rejects(value):
    with pytest.raises(OriginSyntaxError) as excinfo:
        parse.parse_port_range(value)
    assert repr(value) in str(excinfo.value)


# --------------------------------------------------------------------------- hostnames


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("origin.example.net", "origin.example.net", id="plain"),
        pytest.param("Origin.Example.NET", "origin.example.net", id="lowercased"),
        pytest.param("origin.example.net.", "origin.example.net", id="trailing-dot"),
        pytest.param("localhost", "localhost", id="single-label"),
        pytest.param("a-b.example.com", "a-b.example.com", id="hyphen"),
        pytest.param("1.2.3.example", "1.2.3.example", id="numeric-labels-then-name"),
        pytest.param("127.0.0.1.nip.io", "127.0.0.1.nip.io", id="address-prefix-name"),
        pytest.param("x" * 63 + ".example", "x" * 63 + ".example", id="label-63"),
        pytest.param("0xdeadbeef.example", "0xdeadbeef.example", id="hex-looking-label-then-name"),
    ],
)
def test_parse_hostname_accepts(text, expected):
    assert parse.parse_hostname(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("127.1", id="short-form"),
        pytest.param("0x7f000001", id="hex"),
        pytest.param("0x7f.1", id="hex-short"),
        pytest.param("1.2.3.4", id="ipv4"),
        pytest.param("1.2.3.4.", id="ipv4-trailing-dot"),
        pytest.param("2130706433", id="decimal"),
        pytest.param("0177.0.0.1", id="octal"),
        pytest.param("::1", id="ipv6"),
        pytest.param("[::1]", id="ipv6-brackets"),
        pytest.param("fe80::1%eth0", id="ipv6-zone"),
        pytest.param("origin example.net", id="space"),
        pytest.param(" origin.example.net", id="leading-space"),
        pytest.param("origin.example.net\n", id="newline"),
        pytest.param("under_score.example.net", id="underscore"),
        pytest.param("_service.example.net", id="leading-underscore"),
        pytest.param("-lead.example.net", id="leading-hyphen"),
        pytest.param("trail-.example.net", id="trailing-hyphen"),
        pytest.param("x" * 64 + ".example", id="label-64"),
        pytest.param(".".join(["a" * 63] * 4), id="name-over-253"),
        pytest.param("origin..example.net", id="empty-label"),
        pytest.param(".example.net", id="leading-dot"),
        pytest.param("origin.example.net..", id="two-trailing-dots"),
        pytest.param("host.123", id="numeric-last-label"),
        pytest.param("1.2.3.4.5", id="five-numbers"),
        pytest.param("ex\u00e4mple.net", id="non-ascii"),
        pytest.param("example.net:22", id="port"),
        pytest.param("origin.example.net/24", id="slash"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
    ],
)
def test_parse_hostname_rejects(text):
    with pytest.raises(OriginSyntaxError) as excinfo:
        parse.parse_hostname(text)
    assert repr(text) in str(excinfo.value)


# --------------------------------------------------------------------------- embedded IPv4


@pytest.mark.parametrize(
    "network, expected",
    [
        pytest.param("::ffff:1.2.3.4", [("IPv4-mapped", "1.2.3.4/32")], id="mapped"),
        pytest.param("::ffff:127.0.0.1", [("IPv4-mapped", "127.0.0.1/32")], id="mapped-loopback"),
        pytest.param("::1.2.3.4", [("IPv4-compatible", "1.2.3.4/32")], id="compatible"),
        pytest.param("::1", [("IPv4-compatible", "0.0.0.1/32")], id="compatible-loopback"),
        pytest.param("64:ff9b::1.1.1.1", [("NAT64", "1.1.1.1/32")], id="nat64"),
        pytest.param("64:ff9b:1::8.8.8.8", [("local-use NAT64", "8.8.8.8/32")], id="nat64-local-use"),
        pytest.param("64:ff9b:1:abcd::8.8.8.8", [("local-use NAT64", "8.8.8.8/32")], id="nat64-local-use-subnet"),
        pytest.param("2002:c000:0204::1", [("6to4", "192.0.2.4/32")], id="6to4"),
        pytest.param("2002:7f00:1:abcd:1:2:3:4", [("6to4", "127.0.0.1/32")], id="6to4-loopback"),
        pytest.param(
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            [("Teredo server", "65.54.227.120/32"), ("Teredo client", "192.0.2.45/32")],
            id="teredo",
        ),
        pytest.param(
            "2001::ffff:ffff",
            [("Teredo server", "0.0.0.0/32"), ("Teredo client", "0.0.0.0/32")],
            id="teredo-inverted-zero",
        ),
        pytest.param("::ffff:0:0/104", [("IPv4-mapped", "0.0.0.0/8")], id="mapped-cidr-104"),
        pytest.param("::ffff:0:0/96", [("IPv4-mapped", "0.0.0.0/0")], id="mapped-cidr-96"),
        pytest.param("::ffff:10.0.0.0/104", [("IPv4-mapped", "10.0.0.0/8")], id="mapped-cidr-10"),
        pytest.param("::ffff:1.2.3.0/120", [("IPv4-mapped", "1.2.3.0/24")], id="mapped-cidr-120"),
        pytest.param("64:ff9b::c000:200/120", [("NAT64", "192.0.2.0/24")], id="nat64-cidr"),
        pytest.param("2002:c000:200::/40", [("6to4", "192.0.2.0/24")], id="6to4-cidr-40"),
        pytest.param("2002::/16", [("6to4", "0.0.0.0/0")], id="6to4-cidr-16"),
        pytest.param(
            "2001:0:4136:e378:8000:63bf:3fff:fd00/120",
            [("Teredo server", "65.54.227.120/32"), ("Teredo client", "192.0.2.0/24")],
            id="teredo-cidr-120",
        ),
        pytest.param(
            "2001::/32", [("Teredo server", "0.0.0.0/0"), ("Teredo client", "0.0.0.0/0")], id="teredo-whole"
        ),
        pytest.param(
            "::/0",
            [
                ("IPv4-mapped", "0.0.0.0/0"),
                ("IPv4-compatible", "0.0.0.0/0"),
                ("NAT64", "0.0.0.0/0"),
                ("local-use NAT64", "0.0.0.0/0"),
                ("6to4", "0.0.0.0/0"),
                ("Teredo server", "0.0.0.0/0"),
                ("Teredo client", "0.0.0.0/0"),
            ],
            id="everything",
        ),
        pytest.param(
            "2000::/7",
            [("6to4", "0.0.0.0/0"), ("Teredo server", "0.0.0.0/0"), ("Teredo client", "0.0.0.0/0")],
            id="covers-6to4-and-teredo",
        ),
        pytest.param("2001:db8::1", [], id="documentation-none"),
        pytest.param("2606:4700::1", [], id="public-none"),
        pytest.param("::1:0:0:0/80", [], id="near-mapped-none"),
        pytest.param("::1:0:0/96", [], id="beside-compatible-none"),
        pytest.param("2003::/16", [], id="beside-6to4-none"),
        pytest.param("2001:1::/32", [], id="beside-teredo-none"),
        pytest.param("64:ff9b:0:0:0:1::/96", [], id="beside-nat64-none"),
        pytest.param("1.2.3.4", [], id="ipv4-none"),
    ],
)
def test_embedded_ipv4(network, expected):
    carried = embedded.embedded_ipv4(parse.parse_network(network))
    got = sorted((name, str(net)) for name, net in carried)
    assert got == sorted((name, str(netaddr.IPNetwork(net))) for name, net in expected)


def _strict_hostname(text):
    """``parse_hostname`` as it reads without its quick path (``service`` false): the reference."""
    parse._check_plain_text(text, "hostname")
    if parse._NUMERIC_HOST.fullmatch(text) or ":" in text:
        parse._refuse(text, "numeric")
    name = text[:-1] if text.endswith(".") else text
    if len(name) > 253 or not all(parse._HOST_LABEL.fullmatch(label) for label in name.split(".")):
        parse._refuse(text, "not a hostname")
    if name.rsplit(".", 1)[-1].isdigit():
        parse._refuse(text, "last label")
    return name.lower()


@pytest.mark.parametrize("seed", range(4))
def test_the_quick_hostname_path_takes_only_what_the_strict_one_takes(seed):
    rng = random.Random(seed)
    alphabet = "aZ09x.-_ :"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(4000)]
    texts += ["a" * 63 + ".b", "a" * 64 + ".b", ("a" * 61 + ".") * 4 + "b", ("a" * 62 + ".") * 4 + "b", "0x7f.a", "a.0x7f"]
    for text in texts:
        try:
            expected = _strict_hostname(text)
        except OriginSyntaxError:
            expected = None
        try:
            got = parse.parse_hostname(text)
        except OriginSyntaxError:
            got = None
        assert got == expected, text


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10.0.0.0/8", (4, 0x0A000000, 8)),
        ("2606:4700::/32", (6, 0x26064700 << 96, 32)),
        ("104.16.5.20", (4, 0x68100514, 32)),
    ],
)
def test_cidr_parts_of_good_cidrs(value, expected):
    assert parse.cidr_parts(value) == expected == parse.cidr_ints(value)


@pytest.mark.parametrize("value", ["10.0.0.1/8", "127.1", "10.0.0.0/33", 167772160, None, ""])
def test_cidr_parts_refuses_what_the_strict_parser_refuses(value):
    with pytest.raises(OriginSyntaxError):
        parse.cidr_parts(value)
