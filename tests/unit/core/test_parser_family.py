"""One parser family: the strict parser, the fast path and the bulk path accept the same texts and agree.

Property tests (hypothesis) over valid addresses and CIDRs written in every spelling, and
over the near misses a resolver would read differently (leading zeros, short and
integer forms, hex, zone ids, whitespace, netmasks, host bits, bad prefix lengths).
"""

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saltext.spectrum_acl.core.build.columns import parse_many
from saltext.spectrum_acl.core.parse import _fast_origin_url, cidr_ints, parse_network
from saltext.spectrum_acl.errors import OriginSyntaxError

_v4 = st.integers(0, (1 << 32) - 1).map(lambda value: ipaddress.IPv4Address(value))
_v6 = st.integers(0, (1 << 128) - 1).map(lambda value: ipaddress.IPv6Address(value))


@st.composite
def _spellings(draw):
    """An address or CIDR, written validly or with one of the mistakes people and tools make."""
    if draw(st.booleans()):
        address = draw(_v4)
        text = draw(st.sampled_from([str(address), ".".join(f"{octet:03d}" for octet in address.packed),
                                     str(int(address)), hex(int(address)), ".".join(str(o) for o in address.packed[:2])]))
        width = 32
    else:
        address = draw(_v6)
        text = draw(st.sampled_from([address.compressed, address.exploded, address.compressed.upper(),
                                     f"::ffff:{ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)}"]))
        width = 128
    if draw(st.booleans()):
        length = draw(st.integers(0, width))
        network = ipaddress.ip_network((int(ipaddress.ip_address(text)) if _plain(text) else 0, length), strict=False)
        first = network.network_address if draw(st.booleans()) else text
        text = f"{first}/{draw(st.sampled_from([str(length), f'0{length}', str(width + 1), '-1', '']))}"
    return text + draw(st.sampled_from(["", "", "", " ", "%eth0", "\n", "."]))


def _plain(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _strict(text):
    try:
        network = parse_network(text)
    except OriginSyntaxError:
        return None
    return network.version, network.first, network.prefixlen


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_spellings())
def test_fast_path_and_strict_parser_agree(text):
    assert cidr_ints(text) == _strict(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(_spellings(), min_size=1, max_size=40))
def test_bulk_path_and_fast_path_agree(texts):
    v4, v6, declined = parse_many(texts)
    bulk = {}
    for family in (v4, v6):
        for item, first, prefixlen in zip(family.items.tolist(), family.first_ints(), family.prefixlen.tolist()):
            bulk[item] = (family.version, first, prefixlen)
    for item, text in enumerate(texts):
        assert bulk.get(item) == cidr_ints(text), text
        assert (item in declined) == (cidr_ints(text) is None), text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:./x% \t-", max_size=45))
def test_any_text_parses_the_same_on_every_path(text):
    strict = _strict(text)
    assert cidr_ints(text) == strict
    _, _, declined = parse_many([text])
    assert (declined == [0]) == (strict is None)


@st.composite
def _urls(draw):
    host = draw(_spellings()).strip()
    bracketed = draw(st.booleans()) if ":" in host else draw(st.sampled_from([False, False, True]))
    host = f"[{host}]" if bracketed else host
    port = draw(st.sampled_from(["22", "65535", "65536", "0", "022", "1000-2000", "2000-1000", "", "22-22"]))
    return f"{draw(st.sampled_from(['tcp', 'udp', 'TCP', 'http']))}://{host}:{port}"


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_urls())
def test_origin_urls_parse_the_same_on_the_fast_and_strict_paths(text):
    fast = _fast_origin_url(text)
    if fast is None:
        return  # the strict path judges it alone
    assert fast == _strict_url(text)


def _strict_url(text):
    """The strict path's answer, with the fast path out of the way."""
    from saltext.spectrum_acl.core import parse

    original = parse._fast_origin_url
    parse._fast_origin_url = lambda text: None
    try:
        return parse.parse_origin_url(text)
    except OriginSyntaxError:
        return None
    finally:
        parse._fast_origin_url = original
