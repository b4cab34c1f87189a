"""Many addresses and CIDRs at once, as numpy columns: bulk parsing and 128-bit search keys.

:func:`parse_many` takes exactly what :func:`~saltext.spectrum_acl.core.parse.cidr_ints`
takes (``inet_pton``, a canonically written prefix length, no host bits) and
declines the rest, which the strict parser then explains. The texts are read as
one byte buffer, a fixed-width row of bytes per text, with whole-array numpy work
(:func:`parse_spans`): dotted quads, and IPv6 written as hex groups with at most
one ``::``. What that does not read for certain (IPv4 written inside IPv6, ``::``
standing for one group, anything invalid) is left to ``cidr_ints``, one text at a
time (:func:`parse_texts`). The batch judge and the prefix data loader, which hands
over spans of the JSON bytes, share it.

128-bit values are kept as high and low ``uint64`` halves; :func:`sixteen_byte_keys`
makes them big-endian ``S16`` keys, which numpy sorts and searches in numeric order.
:func:`sorted_order` sorts by radix passes over 16-bit digits, in linear time.
"""

import numpy as np

from saltext.spectrum_acl.core.parse import cidr_ints
from saltext.spectrum_acl.core.ranges import HOSTMASKS

_LOW64 = (1 << 64) - 1
#: Host masks by prefix length: IPv4 as ``uint32``, IPv6 as high and low ``uint64`` halves.
V4_HOSTMASKS = np.array(HOSTMASKS[4], dtype=np.uint32)
V6_HOSTMASKS_HIGH = np.array([mask >> 64 for mask in HOSTMASKS[6]], dtype=np.uint64)
V6_HOSTMASKS_LOW = np.array([mask & _LOW64 for mask in HOSTMASKS[6]], dtype=np.uint64)

#: The longest texts read in bulk: a dotted quad and eight four-digit IPv6 groups, each with a prefix length.
V4_TEXT_WIDTH = len("255.255.255.255/32")
V6_TEXT_WIDTH = len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")
#: Bytes :func:`parse_spans` needs after the last text: a row of bytes is read for each text, and one more.
PADDING = V6_TEXT_WIDTH + 1
#: Texts read at a time: bounds the memory of the byte rows and keeps them in cache.
TEXTS_PER_CHUNK = 1 << 16

_ZERO, _COLON, _DOT, _SLASH = (np.uint8(ord(character)) for character in "0:./")


class Family:
    """One family's parsed texts: their item numbers, first addresses and prefix lengths.

    IPv4 addresses are in ``low`` (``high`` is zero); IPv6 ones are split in halves.
    """

    def __init__(self, version, items, high, low, prefixlen):
        self.version, self.items, self.high, self.low, self.prefixlen = version, items, high, low, prefixlen

    @classmethod
    def of_ints(cls, version, values, prefixlen, items=None):
        """Ranges given as Python ints (first addresses) and prefix lengths; items are their positions unless given."""
        count = len(values)
        if version == 4:
            high, low = np.zeros(count, dtype=np.uint64), np.fromiter(values, dtype=np.uint64, count=count)
        else:
            high = np.fromiter((value >> 64 for value in values), dtype=np.uint64, count=count)
            low = np.fromiter((value & _LOW64 for value in values), dtype=np.uint64, count=count)
        items = np.arange(count) if items is None else np.asarray(items, dtype=np.int64)
        return cls(version, items, high, low, np.asarray(prefixlen, dtype=np.uint8))

    @classmethod
    def joined(cls, version, parts):
        """One family from several (``parts`` may be empty)."""
        def column(name, dtype):
            return np.concatenate([getattr(part, name) for part in parts] + [np.zeros(0, dtype=dtype)])

        return cls(version, column("items", np.int64), column("high", np.uint64), column("low", np.uint64),
                   column("prefixlen", np.uint8))

    def __len__(self):
        return len(self.low)

    def select(self, mask):
        return Family(self.version, self.items[mask], self.high[mask], self.low[mask], self.prefixlen[mask])

    def hostmask_halves(self):
        if self.version == 4:
            return np.zeros(len(self.low), dtype=np.uint64), V4_HOSTMASKS[self.prefixlen].astype(np.uint64)
        return V6_HOSTMASKS_HIGH[self.prefixlen], V6_HOSTMASKS_LOW[self.prefixlen]

    def last_halves(self):
        """The last address of each range, as ``(high, low)``."""
        mask_high, mask_low = self.hostmask_halves()
        return self.high | mask_high, self.low | mask_low

    def first_ints(self):
        """The first addresses as Python ints."""
        if self.version == 4:
            return self.low.tolist()
        return [(high << 64) | low for high, low in zip(self.high.tolist(), self.low.tolist())]


def parse_many(texts):
    """``(IPv4 Family, IPv6 Family, declined item numbers)`` for a sequence of address or CIDR texts.

    Runtime complexity: ``O(n)`` numpy work over the texts' bytes, plus one ``cidr_ints``
    call for each text that the bulk reading leaves (rare spellings and invalid texts).
    """
    strings = texts
    if not set(map(type, texts)) <= {str}:  # anything else is declined, so it is read as ""
        strings = [text if type(text) is str else "" for text in texts]
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    # one byte per character: anything not ASCII becomes "?", which no address has
    data = np.frombuffer("".join(strings).encode("ascii", "replace") + bytes(PADDING), dtype=np.uint8)
    return parse_texts(data, np.cumsum(lengths) - lengths, lengths, lambda item: texts[item])


def parse_texts(data, starts, lengths, text_of):
    """:func:`parse_spans`, then ``cidr_ints(text_of(item))`` for each text it leaves unread.

    Returns ``(IPv4 Family, IPv6 Family, declined item numbers)``.
    """
    v4, v6, unread = parse_spans(data, starts, lengths)
    found = {4: ([], [], []), 6: ([], [], [])}  # items, first addresses, prefix lengths
    declined = []
    for item in unread.tolist():
        text = text_of(item)
        parts = cidr_ints(text) if type(text) is str else None
        if parts is None:
            declined.append(item)
        else:
            version, first, prefixlen = parts
            for column, value in zip(found[version], (item, first, prefixlen)):
                column.append(value)
    families = []
    for family in (v4, v6):
        items, firsts, prefixlens = found[family.version]
        one_at_a_time = Family.of_ints(family.version, firsts, prefixlens, items)
        families.append(Family.joined(family.version, [family, one_at_a_time]) if items else family)
    return families[0], families[1], declined


def parse_spans(data, starts, lengths):
    """Read the texts at ``data[start:start + length]`` in bulk: ``(IPv4 Family, IPv6 Family, unread items)``.

    ``data`` is a ``uint8`` array with ``PADDING`` bytes after the last text. What is
    read is exactly what ``cidr_ints`` reads, host bits checked; ``unread`` (an array of
    item numbers) holds every other text, valid or not.

    Runtime complexity: ``O(n)``. The texts are laid out as columns of a matrix, a row
    per character position, so every step is whole-row numpy arithmetic.
    """
    starts, lengths = np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
    read = {4: [], 6: []}
    unread = []
    for begin in range(0, len(starts), TEXTS_PER_CHUNK):
        chunk_starts, chunk_lengths = starts[begin:begin + TEXTS_PER_CHUNK], lengths[begin:begin + TEXTS_PER_CHUNK]
        fits = (chunk_lengths > 0) & (chunk_lengths <= V6_TEXT_WIDTH)
        has_colon = np.zeros(len(chunk_starts), dtype=bool)
        for position in range(5):  # IPv6 has a colon within five characters
            has_colon |= (data[chunk_starts + position] == _COLON) & (chunk_lengths > position)
        done = np.zeros(len(chunk_starts), dtype=bool)
        for version, candidates, reader in (
            (4, fits & ~has_colon & (chunk_lengths <= V4_TEXT_WIDTH), _read_v4),
            (6, fits & has_colon, _read_v6),
        ):
            picked = np.flatnonzero(candidates)
            picked_lengths = chunk_lengths[picked]
            width = int(picked_lengths.max(initial=0)) + 1  # every text and a zero byte after it
            windows = np.lib.stride_tricks.sliding_window_view(data, width)
            text = np.ascontiguousarray(windows[chunk_starts[picked]].T)  # text[j] is character j of every text
            inside = np.arange(width)[:, None] < picked_lengths
            text *= inside
            high, low, prefixlen, ok = reader(text, picked_lengths, inside)
            read[version].append(Family(version, picked[ok] + begin, high[ok], low[ok], prefixlen[ok]))
            done[picked[ok]] = True
        unread.append(np.flatnonzero(~done) + begin)
    return Family.joined(4, read[4]), Family.joined(6, read[6]), np.concatenate(unread + [np.zeros(0, np.int64)])


# The readers below take ``text`` as a matrix with a row per character position and a
# column per text, zero bytes after each text (``inside`` is true within it), and the
# texts' ``lengths``, and return ``(high, low, prefixlen, ok)``:
# ``ok`` is false for every text not read for certain. They use whole-row arithmetic
# (boolean masks as 0 and 1), which numpy runs fastest, and short loops over positions.


def _next(mask):
    """At each position, is the next character in ``mask``?"""
    moved = np.zeros_like(mask)
    moved[:-1] = mask[1:]
    return moved


def _previous(mask):
    """At each position, is the previous character in ``mask``?"""
    moved = np.zeros_like(mask)
    moved[1:] = mask[:-1]
    return moved


def _runs_longer_than(mask, longest):
    """Does each text have more than ``longest`` characters of ``mask`` in a row?"""
    run = mask
    for back in range(1, longest + 1):
        run = run[1:] & mask[:-back]
    return run.any(axis=0)


def _leading_zeros(text, is_digit):
    """Does each text have a number of two digits or more that starts with ``0``?"""
    return ((text == _ZERO) & ~_previous(is_digit) & _next(is_digit)).any(axis=0)


def _slash(text):
    """``(slash mask, has a slash, where the slash is, positions after it)`` of each text (one slash at most
    in a good text)."""
    slash = text == _SLASH
    positions = np.arange(len(text), dtype=np.uint8)[:, None]
    has_slash = slash.any(axis=0)
    slash_at = (slash * positions).sum(axis=0, dtype=np.uint8)
    return slash, has_slash, slash_at, (positions > slash_at) & has_slash


def _prefix_lengths(text, lengths, has_slash, slash_at, width):
    """The prefix length of each text, from the digits after its slash (its last characters, up
    to three); ``width`` without a slash. Returns ``(prefixlen, bad)``, bad when over ``width``."""
    digits = (lengths - 1 - slash_at) * has_slash
    count = text.shape[1]
    flat, columns = text.reshape(-1), np.arange(count)
    value = np.zeros(count, dtype=np.uint32)
    for back in range(3):
        character = flat[np.maximum(lengths - 1 - back, 0) * count + columns]
        value += (character - _ZERO).astype(np.uint32) * np.uint32(10**back) * (back < digits)
    prefixlen = value * has_slash + np.uint32(width) * ~has_slash
    return np.minimum(prefixlen, width).astype(np.uint8), prefixlen > width


def _read_v4(text, lengths, inside):
    """Dotted quads (four decimal octets, no leading zeros), each with an optional prefix length."""
    digit = text - _ZERO
    is_digit = digit < 10
    dot = text == _DOT
    slash, has_slash, slash_at, after_slash = _slash(text)
    # digits, three dots, then maybe one slash and the prefix length; no number empty, none over three digits
    bad = ~(is_digit | dot | slash | ~inside).all(axis=0) | (dot & after_slash).any(axis=0)
    bad |= (dot.sum(axis=0, dtype=np.uint8) != 3) | (slash.sum(axis=0, dtype=np.uint8) > 1)
    bad |= ~is_digit[0] | ((dot | slash) & ~_next(is_digit)).any(axis=0)
    bad |= _runs_longer_than(is_digit, 3) | _leading_zeros(text, is_digit)
    first, second, third = digit[:-2], digit[1:-1], digit[2:]  # of three digits in a row: above 255, read as text?
    above_255 = (first > 2) | ((first == 2) & ((second > 5) | ((second == 5) & (third > 5))))
    bad |= (is_digit[2:] & is_digit[1:-1] & is_digit[:-2] & above_255).any(axis=0)
    # the octets, left to right: each ends at a dot, at the slash, or at the end
    octet_ends = dot | slash | ((np.arange(len(text))[:, None] == lengths) & ~has_slash)
    count = text.shape[1]
    number, address = np.zeros(count, dtype=np.uint32), np.zeros(count, dtype=np.uint32)
    for position in range(len(text)):
        ends = octet_ends[position]
        address = (address << (ends * np.uint32(8))) | (number * ends)
        number = (number * np.uint32(10) + digit[position]) * is_digit[position]
    prefixlen, too_long = _prefix_lengths(text, lengths, has_slash, slash_at, 32)
    low = address.astype(np.uint64)
    ok = ~bad & ~too_long & ((low & V4_HOSTMASKS[prefixlen]) == 0)
    return np.zeros(count, dtype=np.uint64), low, prefixlen, ok


def _read_v6(text, lengths, inside):
    """IPv6 as hex groups of one to four digits, with at most one ``::`` standing for two groups
    or more, each with an optional prefix length (IPv4 written inside is not read)."""
    decimal, letter = text - _ZERO, (text | np.uint8(0x20)) - np.uint8(ord("a"))
    is_decimal, is_letter = decimal < 10, letter < 6
    colon = text == _COLON
    slash, has_slash, slash_at, after_slash = _slash(text)
    group_digit = (is_decimal | is_letter) & ~after_slash
    prefix_digit = is_decimal & after_slash
    bad = ~(group_digit | colon | slash | prefix_digit | ~inside).all(axis=0)
    bad |= (slash.sum(axis=0, dtype=np.uint8) > 1) | (slash & ~_next(prefix_digit)).any(axis=0)
    bad |= (after_slash & colon).any(axis=0) | _runs_longer_than(prefix_digit, 3) | _leading_zeros(text, prefix_digit)
    # "::" once at most, no ":::"; a lone colon stands between two groups
    double = colon & _next(colon)
    bad |= (double & _next(double)).any(axis=0) | (double.sum(axis=0, dtype=np.uint8) > 1)
    lone = colon & ~_previous(colon) & ~_next(colon)
    bad |= (lone & ~(_previous(group_digit) & _next(group_digit))).any(axis=0)
    # groups of one to four digits: eight, or up to six and "::"
    group_ends = group_digit & ~_next(group_digit)
    groups = group_ends.sum(axis=0, dtype=np.uint8)
    has_double = double.any(axis=0)
    bad |= _runs_longer_than(group_digit, 4) | np.where(has_double, groups > 6, groups != 8)
    # the groups, left to right, into their slots: those after "::" skip the groups it stands for
    digit_value = decimal * is_decimal + (letter + np.uint8(10)) * is_letter
    count = text.shape[1]
    slots = np.zeros((8, count), dtype=np.uint16)
    group = np.zeros(count, dtype=np.uint16)
    placed, skip, past_double = np.zeros(count, dtype=np.uint8), (np.uint8(8) - groups) * has_double, np.zeros(count, dtype=bool)
    for position in range(len(text)):
        past_double |= double[position]
        group = (group * np.uint16(16) + digit_value[position]) * group_digit[position]
        ending = np.flatnonzero(group_ends[position])
        slots[(placed + skip * past_double)[ending] & 7, ending] = group[ending]  # a bad text may land anywhere
        placed += group_ends[position]
    prefixlen, too_long = _prefix_lengths(text, lengths, has_slash, slash_at, 128)
    bad |= too_long
    halves = np.ascontiguousarray(slots.T).astype(">u2").view(">u8")  # eight big-endian groups are two halves
    high, low = halves[:, 0].astype(np.uint64), halves[:, 1].astype(np.uint64)
    ok = ~bad & (((high & V6_HOSTMASKS_HIGH[prefixlen]) | (low & V6_HOSTMASKS_LOW[prefixlen])) == 0)
    return high, low, prefixlen, ok


def sixteen_byte_keys(high, low):
    """128-bit values, given as halves, as big-endian ``S16`` keys."""
    pairs = np.empty((len(high), 2), dtype=">u8")
    pairs[:, 0], pairs[:, 1] = high, low
    return pairs.reshape(-1).view("S16")


def top_halves(keys):
    """The top 64 bits of big-endian ``S16`` keys, as ``uint64``."""
    return keys.view(">u8")[0::2].astype(np.uint64)


def sorted_order(digits):
    """The stable order that sorts rows by ``digits`` (columns of 16-bit digits, most significant first).

    numpy sorts 16-bit keys stably with a radix sort, so passes from the least significant
    digit up take linear time, several times faster than a comparison sort of wide keys.
    """
    order = np.argsort(digits[-1], kind="stable").astype(np.int32)  # an index fits in 32 bits (see index.py)
    for digit in reversed(digits[:-1]):
        if len(digit) and digit.min() != digit.max():  # a digit all the rows share does not reorder them
            order = order[np.argsort(digit[order], kind="stable")]
    return order


def digits_of(values, bits):
    """The 16-bit digits of unsigned ``values`` of ``bits`` bits, most significant first."""
    return [((values >> values.dtype.type(shift)) & values.dtype.type(0xFFFF)).astype(np.uint16)
            for shift in range(bits - 16, -1, -16)]
