"""The fast way in for large JSON prefix data: msgspec for the prefixes, numpy for their children.

It builds exactly the :class:`~saltext.spectrum_acl.core.index.Columns` that
``prefix_data.columns_from_document`` builds from the same document, entry for
entry, in the same order, with the same strings, but it only recognises regular
data: for anything irregular (a wrong type, a CIDR the parsers decline, a child
outside its prefix, a duplicate prefix with another owner, an escape in a child)
it returns ``None``, and the standard path, which explains every problem, runs instead.

msgspec decodes the prefixes and hands over each list of delegations or bindings
as its JSON text (``msgspec.Raw``). Those lists hold nearly every entry, so they are
read in bulk from their bytes: outside its strings, the text must spell
``[{"":"","":""},...]``, the keys must be ``cidr`` and the list's value key, and the
CIDRs are parsed where they lie (:func:`~saltext.spectrum_acl.core.build.columns.parse_texts`).
No Python object is made for a binding, and the first addresses stay 64-bit halves.
"""

from array import array
from dataclasses import dataclass
from itertools import chain, repeat
from operator import attrgetter, is_not
from typing import Any

import msgspec
import numpy as np

from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.core.build.columns import PADDING, Family, parse_many, parse_texts


class _Prefix(msgspec.Struct, gc=False):
    cidr: Any = None
    account_id: Any = None
    description: Any = None
    delegations: msgspec.Raw = None  # their JSON text, read in bulk (see _read_children)
    bindings: msgspec.Raw = None


class _Document(msgspec.Struct, gc=False):
    prefixes: list[_Prefix]
    allow_empty: Any = None


_DECODER = msgspec.json.Decoder(_Document)
_PREFIX, _DELEGATION, _BINDING = (index.KIND_CODES[kind] for kind in (index.PREFIX, index.DELEGATION, index.BINDING))
#: Children are read this many bytes of JSON (or checked this many children) at a time,
#: which bounds the memory of the work arrays.
CHILDREN_BYTES_PER_CHUNK = 1 << 21
CHILDREN_PER_CHUNK = 1 << 17
#: The whole text is scanned this many bytes at a time, small enough to stay in cache.
SCAN_BYTES = 1 << 18
#: By n, the mask of the first n bytes of a little-endian 64-bit word.
_FIRST_BYTES = np.array([(1 << 8 * count) - 1 for count in range(9)], dtype=np.uint64)


@dataclass
class Decoded:
    """A decoded document: its prefixes (structs), ``allow_empty``, and how many keys its text has."""

    prefixes: list
    allow_empty: Any
    key_count: int


def decode(raw):
    """The JSON document as structs, or ``None`` when it does not have the expected shape.

    msgspec keeps the last of duplicate keys silently, so the document is declined unless
    its key count (every ``":`` that ends a key) is exactly what the structs and the
    children account for: then no key was repeated, and no unknown or null key is there.
    The standard path explains anything declined.
    """
    try:
        document = _DECODER.decode(raw)
    except (msgspec.MsgspecError, RecursionError):
        return None
    return Decoded(document.prefixes, document.allow_empty, _key_count(raw))


def _key_count(raw):
    """How many times ``":`` ends a key in the JSON text ``raw``: each ``":`` but those of ``"::``,
    the opening quote of a value like ``"::1/128"``. (Valid JSON ends with neither.)

    Runtime complexity: ``O(bytes)``, a piece of ``SCAN_BYTES`` at a time.
    """
    data = np.frombuffer(raw, dtype=np.uint8)
    count = 0
    for start in range(0, len(data) - 2, SCAN_BYTES):
        stop = min(start + SCAN_BYTES, len(data) - 2)
        key_end = (data[start:stop] == ord('"')) & (data[start + 1:stop + 1] == ord(":"))
        count += int(np.count_nonzero(key_end)) - int(np.count_nonzero(key_end & (data[start + 2:stop + 2] == ord(":"))))
    return count


def columns_from_document(document):
    """:class:`~saltext.spectrum_acl.core.index.Columns` from a decoded document, or ``None`` when it is irregular.

    Its list of prefixes is emptied as it is read, so that its structs are freed before the columns are made.

    Runtime complexity: ``O(n)`` for ``n`` entries: C-level passes over the prefixes
    (``map``), numpy work over the children's bytes.
    """
    prefixes = document.prefixes
    cidrs, owners, descriptions, delegation_lists, binding_lists = (
        list(map(attrgetter(field), prefixes))
        for field in ("cidr", "account_id", "description", "delegations", "bindings")
    )
    prefixes.clear()  # the structs go; their strings and lists stay
    owner_places, description_places = _first_places(owners), _first_places(descriptions, optional=True)
    if owner_places is None or description_places is None:
        return None
    *parts, declined = parse_many(cidrs)
    if declined:
        return None
    prefix_parts = _by_item(len(cidrs), parts)
    keys = 1 + (document.allow_empty is not None) + 2 * len(cidrs)
    keys += sum(len(values) - values.count(None) for values in (descriptions, delegation_lists, binding_lists))
    delegations = _read_children(delegation_lists, b"delegated_account_id", _delegated_accounts)
    bindings = _read_children(binding_lists, b"service_name", _spectrum_bindings) if delegations is not None else None
    del delegation_lists, binding_lists  # the last hold on the JSON text: it goes now
    if bindings is None or keys + 2 * (len(delegations) + len(bindings)) != document.key_count:
        return None  # irregular, or a repeated or unknown key, or a value that spells '":'
    first_row = _first_rows(prefix_parts)
    duplicates = np.flatnonzero(first_row != np.arange(len(cidrs))).tolist()
    if any(owners[row] != owners[first_row[row]] for row in duplicates):
        return None
    if not (_inside(delegations, prefix_parts) and _inside(bindings, prefix_parts)):
        return None
    if duplicates:  # their descriptions are not met: only a new prefix's are
        new_rows = np.flatnonzero(first_row == np.arange(len(cidrs))).tolist()
        owners, descriptions = [owners[row] for row in new_rows], [descriptions[row] for row in new_rows]
        description_places = _first_places(descriptions, optional=True)
    return _assemble(prefix_parts, first_row, (owners, owner_places), (descriptions, description_places),
                     delegations, bindings)


def _first_places(values, optional=False):
    """``{value: the first place it is at}`` for a column of strings; ``None`` when a value is not a
    non-empty string (nor ``None``, when ``optional``). Each distinct value is looked at once."""
    try:
        places = dict(zip(reversed(values), range(len(values) - 1, -1, -1)))  # the earliest place is written last
    except TypeError:  # a list or mapping
        return None
    if optional:
        places.pop(None, None)
    return places if all(type(value) is str and value for value in places) else None


class _Parts:
    """CIDRs as columns, by item: version, first address halves, prefix length."""

    def __init__(self, version, high, low, prefixlen):
        self.version, self.high, self.low, self.prefixlen = version, high, low, prefixlen

    def __len__(self):
        return len(self.version)

    def take(self, rows):
        return _Parts(self.version[rows], self.high[rows], self.low[rows], self.prefixlen[rows])

    def last_halves(self):
        """The last address of each range, as ``(high, low)``."""
        last = [np.empty(len(self), dtype=np.uint64) for _ in range(2)]
        for version in (4, 6):
            rows = np.flatnonzero(self.version == version)
            family = Family(version, rows, self.high[rows], self.low[rows], self.prefixlen[rows])
            last[0][rows], last[1][rows] = family.last_halves()
        return last


def _by_item(count, families):
    """The parsed ``families`` as one :class:`_Parts` of ``count`` items, in item order."""
    parts = _Parts(np.zeros(count, np.uint8), np.zeros(count, np.uint64), np.zeros(count, np.uint64),
                   np.zeros(count, np.uint8))
    for family in families:
        parts.version[family.items] = family.version
        parts.high[family.items], parts.low[family.items] = family.high, family.low
        parts.prefixlen[family.items] = family.prefixlen
    return parts


class _Children:
    """One kind of children (delegations or bindings) of every prefix: per child, its prefix's
    row (ascending), its place in that prefix's list, its CIDR's :class:`_Parts`, and what is
    kept of its value; per prefix row, how many children it has."""

    def __init__(self, rows, parts, values, prefix_count):
        self.row, self.parts, self.values = rows.astype(np.int32), parts, values
        self.count = np.bincount(self.row, minlength=prefix_count).astype(np.int32)
        self.place = np.arange(len(rows), dtype=np.int32) - _starts(self.count)[self.row]

    def __len__(self):
        return len(self.row)


def _starts(counts):
    """Where each group starts, for groups of ``counts`` laid out one after the other."""
    return np.cumsum(counts, dtype=np.int32) - counts


def _read_children(lists, value_key, read_values):
    """The children in ``lists`` (one JSON text or ``None`` per prefix) as :class:`_Children`,
    or ``None`` when one is irregular.

    ``read_values(text, words, starts, lengths)`` gives what is kept of a chunk's value strings
    (``None`` when one is irregular; ``words`` as :func:`_words` makes them). Runtime
    complexity: ``O(bytes)``, in numpy, a chunk of ``CHILDREN_BYTES_PER_CHUNK`` at a time.
    """
    rows = np.flatnonzero(np.fromiter(map(is_not, lists, repeat(None)), dtype=bool, count=len(lists)))
    texts = [text for text in lists if text is not None]
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    cuts = np.searchsorted(ends, np.arange(CHILDREN_BYTES_PER_CHUNK, ends[-1] if len(ends) else 0,
                                            CHILDREN_BYTES_PER_CHUNK), side="right").tolist()
    chunks = []
    for first, stop in zip([0, *cuts], [*cuts, len(texts)]):
        if first < stop:
            chunk = _read_chunk(texts[first:stop], rows[first:stop], ends[first:stop] - (ends[first - 1] if first else 0),
                                value_key, read_values)
            if chunk is None:
                return None
            chunks.append(chunk)
    if not chunks:
        return _Children(np.zeros(0, np.int32), _by_item(0, []), [], len(lists))
    child_rows, parts, values = zip(*chunks)
    joined = _Parts(*(np.concatenate([getattr(part, name) for part in parts]) for name in ("version", "high", "low", "prefixlen")))
    values = list(chain.from_iterable(values)) if isinstance(values[0], list) else np.concatenate(values)
    return _Children(np.concatenate(child_rows), joined, values, len(lists))


def _read_chunk(texts, rows, ends, value_key, read_values):
    """Children from the JSON ``texts`` (ending at ``ends`` once joined) of some prefixes' lists
    (``rows``): ``(prefix row of each child, their :class:`_Parts`, their kept values)``, or ``None``
    when one is irregular."""
    text = b"".join([*texts, bytes(PADDING)])  # the padding (zeros) is for the parser and the 64-bit words
    if b"\\" in text or not (text.isascii() or _is_utf8(text)):
        return None  # an escape, or bytes the standard path cannot read: it explains
    data = np.frombuffer(text, dtype=np.uint8)
    body = data[:-(-int(ends[-1]) // 8) * 8]  # the lists, to a whole number of 64-bit words
    is_quote = body == ord('"')
    quotes = np.flatnonzero(is_quote)
    words = _words(data)
    if not _lists_of_pairs(body, words, is_quote, quotes, ends):
        return None
    strings = quotes.reshape(-1, 4, 2)  # per child: key, value, key, value; each an opening and a closing quote
    starts, lengths = strings[:, :, 0] + 1, strings[:, :, 1] - strings[:, :, 0] - 1
    cidr_first = _are(words, starts[:, 0], lengths[:, 0], b"cidr") & _are(words, starts[:, 2], lengths[:, 2], value_key)
    if np.all(cidr_first):  # the usual order
        (cidr_starts, value_starts), (cidr_lengths, value_lengths) = starts[:, [1, 3]].T, lengths[:, [1, 3]].T
    else:
        cidr_last = _are(words, starts[:, 0], lengths[:, 0], value_key) & _are(words, starts[:, 2], lengths[:, 2], b"cidr")
        if not np.all(cidr_first | cidr_last):
            return None
        children = np.arange(len(strings))
        cidr_starts, cidr_lengths = (column[children, np.where(cidr_first, 1, 3)] for column in (starts, lengths))
        value_starts, value_lengths = (column[children, np.where(cidr_first, 3, 1)] for column in (starts, lengths))
    *families, declined = parse_texts(data, cidr_starts, cidr_lengths,
                                      lambda item: text[cidr_starts[item]:cidr_starts[item] + cidr_lengths[item]].decode())
    values = read_values(text, words, value_starts, value_lengths)
    if declined or values is None:
        return None
    return rows[np.searchsorted(ends, strings[:, 0, 0], side="right")], _by_item(len(strings), families), values


def _is_utf8(text):
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lists_of_pairs(body, words, is_quote, quotes, ends):
    """Is the JSON text ``body`` (lists ending at ``ends``, then zeros to a whole number of 64-bit
    words; ``quotes`` where its quotes are, ``words`` as :func:`_words` makes them) lists of
    objects of two members with string values each? msgspec has checked the syntax, so,
    outside the strings, there is no byte up to 32 but white space, and these checks are enough."""
    if len(quotes) % 8 or np.any(body[np.concatenate(([0], ends[:-1]))] != ord("[")):
        return False
    skeleton = _between_strings(words, quotes, int(ends[-1]))
    if skeleton is None:  # long white space (indented JSON): every byte's quote parity
        quote_bytes = is_quote.view(np.uint8)
        in_string_or_quote = _odd_quotes_so_far(quote_bytes) | quote_bytes
        skeleton = body[(in_string_or_quote == 0) & (body > 32)].tobytes()
    # each child object is written "o"; nothing else but the lists is left, and no list in a list
    lists = skeleton.replace(b"{:,:}", b"o")
    return (not lists.translate(None, b"[],o") and b"[[" not in lists and b",[" not in lists
            and len(quotes) == 8 * lists.count(b"o"))  # no string but the four in each child


def _between_strings(words, quotes, length):
    """The first ``length`` bytes of text outside its strings and their quotes, without white
    space; ``None`` when a stretch between two strings is longer than eight bytes."""
    starts = np.concatenate(([0], quotes[1::2] + 1))  # after each closing quote
    lengths = np.concatenate((quotes[0::2], [length])) - starts  # up to the next opening quote
    if lengths.max() > 8:
        return None
    # each stretch's bytes, zeros after them (no zero byte is outside a string in valid JSON)
    pieces = (words[starts] & _FIRST_BYTES[lengths]).astype("<u8")
    return pieces.tobytes().translate(None, b"\0 \t\n\r")


def _odd_quotes_so_far(quote_bytes):
    """For each byte, 1 when an odd number of quotes come up to it (so it is inside a string, or
    opens one), else 0; ``quote_bytes`` is 1 at each quote, 0 elsewhere, a whole number of words.

    A running XOR, a 64-bit word at a time: within each word by three shifts, then carried
    over from the words before, an eighth as many steps as a running sum over the bytes.
    """
    words = quote_bytes.view("<u8").copy()
    for shift in (8, 16, 32):
        words ^= words << np.uint64(shift)  # byte k: the XOR of the word's bytes up to k
    carried = np.bitwise_xor.accumulate(words >> np.uint64(56))  # each word's last byte, running over the words
    words[1:] ^= carried[:-1] * np.uint64(0x0101010101010101)
    return words.view(np.uint8)


def _words(data):
    """A view of ``data`` where item ``i`` is the eight bytes from ``i`` as a little-endian ``uint64``."""
    return np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))


def _are(words, starts, lengths, word, any_case=False):
    """Is each string at ``starts`` (of ``lengths``) ``word``? A mask; ``words`` as :func:`_words` makes them.

    With ``any_case`` (``word`` in lower case), ASCII letters match in either case: ORing 0x20
    into a byte lower-cases exactly the ASCII letters, and makes no other byte one.
    """
    same = lengths == len(word)
    fold = np.uint64(0x2020202020202020 if any_case else 0)
    for offset in sorted({*range(0, len(word) - 7, 8), max(len(word) - 8, 0)}):  # eight-byte pieces cover it
        piece = word[offset:offset + 8]
        mask = np.uint64((1 << 8 * len(piece)) - 1)
        same &= ((words[starts + offset] | fold) & mask) == np.frombuffer(piece.ljust(8, b"\0"), dtype="<u8")[0]
    return same


def _delegated_accounts(text, words, starts, lengths):
    """The accounts of delegations, as strings; ``None`` when one is empty."""
    if not np.all(lengths > 0):
        return None
    return list(map(bytes.decode, map(text.__getitem__, map(slice, starts.tolist(), (starts + lengths).tolist()))))


def _spectrum_bindings(text, words, starts, lengths):
    """Which bindings are Spectrum's (``service_name`` is it in any case), a mask; ``None`` when one is empty."""
    if not np.all(lengths > 0):
        return None
    spectrum = _are(words, starts, lengths, index.SPECTRUM_SERVICE.encode(), any_case=True)
    if not text.isascii():  # casefold maps some other letters to ASCII ones ("ſ" to "s")
        for item in np.flatnonzero(~spectrum).tolist():
            start = starts[item]
            spectrum[item] = index.is_spectrum_service(text[start:start + lengths[item]].decode())
    return spectrum


def _first_rows(parts):
    """For each prefix, the row of the first prefix with the same CIDR (its own row when it is the first)."""
    order = np.lexsort((parts.prefixlen, parts.low, parts.high, parts.version))  # stable: rows ascend among equals
    ordered = parts.take(order)
    new = np.ones(len(order), dtype=bool)
    new[1:] = ((ordered.version[1:] != ordered.version[:-1]) | (ordered.high[1:] != ordered.high[:-1])
               | (ordered.low[1:] != ordered.low[:-1]) | (ordered.prefixlen[1:] != ordered.prefixlen[:-1]))
    first_row = np.empty(len(order), dtype=np.int64)
    first_row[order] = order[np.flatnonzero(new)[np.cumsum(new) - 1]]
    return first_row


def _inside(children, prefix_parts):
    """Is every child of its prefix's family and inside it? Checked a slice of children at a time."""
    for first in range(0, len(children), CHILDREN_PER_CHUNK):
        rows = slice(first, first + CHILDREN_PER_CHUNK)
        parents, child = prefix_parts.take(children.row[rows]), children.parts.take(rows)
        (parent_last_high, parent_last_low), (last_high, last_low) = parents.last_halves(), child.last_halves()
        starts_inside = (child.high > parents.high) | ((child.high == parents.high) & (child.low >= parents.low))
        ends_inside = (last_high < parent_last_high) | ((last_high == parent_last_high) & (last_low <= parent_last_low))
        if not np.all((child.version == parents.version) & starts_inside & ends_inside):
            return False
    return True


def _assemble(prefixes, first_row, owners, descriptions, delegations, bindings):
    """The columns: each new prefix, then its delegations, then its Spectrum bindings, prefix by prefix.

    ``owners`` and ``descriptions`` are those of the new prefixes, each with first places
    (see :func:`_first_places`): the owners' over all prefixes (an owner is first met at a new
    prefix, as a duplicate has its first's owner), the descriptions' over the new ones.
    """
    new = (first_row == np.arange(len(prefixes))).astype(np.int32)
    kept = np.asarray(bindings.values, dtype=bool)
    binding_rows = bindings.row[kept]
    kept_count = np.bincount(binding_rows, minlength=len(prefixes)).astype(np.int32)
    size = new + delegations.count + kept_count
    base = _starts(size)  # where each prefix row's entries go: its prefix, delegations, bindings
    prefix_at = base[new == 1]
    delegation_at = (base + new)[delegations.row] + delegations.place
    kept_place = np.arange(len(binding_rows), dtype=np.int32) - _starts(kept_count)[binding_rows]
    binding_at = (base + new + delegations.count)[binding_rows] + kept_place
    total = int(size.sum())
    kind, version, prefixlen = (np.empty(total, dtype=np.uint8) for _ in range(3))
    high, low = np.empty(total, dtype=np.uint64), np.empty(total, dtype=np.uint64)
    for code, at, parts in ((_PREFIX, prefix_at, prefixes.take(new == 1)), (_DELEGATION, delegation_at, delegations.parts),
                            (_BINDING, binding_at, bindings.parts.take(kept))):
        kind[at] = code
        version[at], high[at], low[at], prefixlen[at] = parts.version, parts.high, parts.low, parts.prefixlen
    parent = np.full(total, index.NO_ENTRY, dtype=np.int32)
    parent_at = base[first_row]  # a duplicate's children hang from the first prefix
    parent[delegation_at], parent[binding_at] = parent_at[delegations.row], parent_at[binding_rows]
    # strings are numbered in the order the standard path meets them: per prefix row, a new
    # prefix's owner and description, then its delegations' accounts
    met_before = _starts(2 * new + delegations.count)
    accounts = delegations.values
    strings, ids = _numbered([
        (owners[1], met_before), (descriptions[1], met_before[new == 1] + 1),
        (_first_places(accounts), met_before[delegations.row] + 2 * new[delegations.row] + delegations.place),
    ])
    account, detail = np.zeros(total, dtype=np.int32), np.zeros(total, dtype=np.int32)
    for at, column, values in ((prefix_at, account, owners[0]), (prefix_at, detail, descriptions[0]),
                               (delegation_at, account, accounts)):
        column[at] = np.fromiter(map(ids.__getitem__, values), dtype=np.int32, count=len(values))
    columns = index.Columns()
    columns.kind, columns.version, columns.prefixlen = bytearray(kind), bytearray(version), bytearray(prefixlen)
    columns.first = index.WideInts(_array("Q", high), _array("Q", low))
    columns.account, columns.detail, columns.parent = (_array("i", column) for column in (account, detail, parent))
    columns.strings, columns._string_ids = strings, ids
    return columns


def _array(typecode, values):
    """An ``array`` of a numpy column, copied once."""
    made = array(typecode)
    made.frombytes(memoryview(values).cast("B"))
    return made


def _numbered(columns):
    """``(strings, {string: number})``: the strings of ``columns`` numbered in the order they are
    first met. Each column is ``(first places, when each place is met)``; "" and ``None`` are 0."""
    texts = [text for places, _ in columns for text in places]
    met = np.concatenate([met[np.fromiter(places.values(), dtype=np.int64, count=len(places))] for places, met in columns])
    strings = ["", *dict.fromkeys(map(texts.__getitem__, np.argsort(met, kind="stable").tolist()))]  # first met first
    ids = dict(zip(strings, range(len(strings))))
    ids[None] = 0
    return strings, ids
