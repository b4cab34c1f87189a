"""A compiled prefix index on disk, keyed by the prefix data's content hash.

Building the index from 10^6 entries takes seconds; reading it back takes a
fraction of one. The file holds the index's columns as raw arrays behind a
JSON header that records the data's SHA-256, the format, the reserved table's
hash and the payload's CRC-32; the header has a CRC-32 of its own. Anything
that does not match (other data, another format, a truncated or altered file)
is ignored and rebuilt, never trusted. The payload's CRC is checked once per file: a later
load skips it while the file's stat is the one checked (as the data file's hash is kept against
its stat), so a warm load maps the file and reads its header. Writes are atomic (temp file, then ``os.replace``), so a mapped file is
never changed under a reader.
"""

import hashlib
import json
import logging
import mmap
import os
import struct
import tempfile
import time
import zlib
from array import array

from saltext.spectrum_acl.core import index, reserved
from saltext.spectrum_acl.data import safe_files

log = logging.getLogger(__name__)

FORMAT = 4
_ALIGN = 8
MAGIC = b"SPECTRUM-ACL-INDEX\n"
_LENGTH_AND_CRC = struct.Struct(">QI")  # the header's length and CRC-32, after MAGIC
_RESERVED_KEY = hashlib.sha256(repr(reserved.RESERVED_BLOCKS).encode()).hexdigest()[:16]
_DIGESTS = "data-digests.json"


_VERIFIED = "verified-index.json"
#: A file changed this recently may change again within the same timestamp tick unseen (git's "racy
#: clean" case), so its verification is not recorded.
RACY_SECONDS = 2


def _stat_key(path):
    """What changes whenever a file's content may have: like git's index, no hashing needed."""
    return _key_of(os.stat(path))


def _key_of(stat):
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def _read_record(cache_dir, name):
    """The JSON record ``name`` of the cache dir, or ``None`` when absent, unreadable or not trusted."""
    try:
        with safe_files.open_trusted(os.path.join(cache_dir, name), "cache file") as handle:
            return json.load(handle)
    except safe_files.UnsafePath as exc:
        log.warning("spectrum_acl: ignoring %s", exc)
    except (OSError, ValueError):
        pass
    return None


def _write_record(cache_dir, name, value, what):
    """Write the JSON record ``name`` atomically; a failure is logged (as not recording ``what``) and ignored."""
    try:
        handle, temporary = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out)
        os.replace(temporary, os.path.join(cache_dir, name))
    except OSError as exc:
        log.warning("spectrum_acl: could not record %s in %s: %s", what, cache_dir, exc)


def _verified_before(cache_dir, path, stat_key):
    """Was the cache file at ``path``, as it is now (``stat_key``), checked in full by an earlier load?"""
    return _read_record(cache_dir, _VERIFIED) == [path, stat_key]


def _remember_verified(cache_dir, path, stat):
    """Record that the cache file checked out in full, unless it changed too recently to tell."""
    if time.time() - stat.st_mtime < RACY_SECONDS or time.time() - stat.st_ctime < RACY_SECONDS:
        return
    _write_record(cache_dir, _VERIFIED, [path, _key_of(stat)], "the verified index cache")


def known_digest(cache_dir, data_path):
    """The content hash recorded for ``data_path`` when it has not changed since, else ``None``."""
    try:
        stat_key, digest = _read_record(cache_dir, _DIGESTS)[os.path.abspath(data_path)]
        return digest if stat_key == _stat_key(data_path) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_digest(cache_dir, data_path, digest):
    """Record ``data_path``'s content hash against its stat, so the next run need not hash it."""
    try:
        record = {os.path.abspath(data_path): [_stat_key(data_path), digest]}
    except OSError as exc:
        log.warning("spectrum_acl: could not record the prefix data hash in %s: %s", cache_dir, exc)
        return
    _write_record(cache_dir, _DIGESTS, record, "the prefix data hash")


def cache_path(cache_dir, data_digest):
    return os.path.join(cache_dir, f"prefix-index-{data_digest}-{_RESERVED_KEY}-v{FORMAT}.bin")


def _arrays(built):
    columns, labels = built.columns, built.labels
    segments = built.segments
    v4_starts, v4_labels, v4_bindings = segments[4]
    return {
        "kind": columns.kind,
        "version": columns.version,
        "prefixlen": columns.prefixlen,
        "first_high": columns.first.high,
        "first_low": columns.first.low,
        "account": columns.account,
        "detail": columns.detail,
        "parent": columns.parent,
        "label_prefix": labels.prefix,
        "label_reserved": labels.reserved,
        "label_flags": labels.flags,
        "label_delegation_start": labels.delegation_start,
        "label_delegation_end": labels.delegation_end,
        "label_delegations": labels.delegations,
        "v4_starts": v4_starts,
        "v4_labels": v4_labels,
        "v4_bindings": v4_bindings,
        "v6_keys": segments.v6_keys,
        "v6_labels": segments.v6_labels,
        "v6_bindings": segments.v6_bindings,
        "v4_buckets": built.v4_buckets,
    }


def save(cache_dir, data_digest, built):
    """Write ``built`` for ``data_digest``; a failure is logged and otherwise ignored."""
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        arrays = _arrays(built)
        # every array is padded to 8 bytes, so each view of the mapped file is aligned
        chunks = [(memoryview(value).cast("B"), bytes(-memoryview(value).nbytes % _ALIGN)) for value in arrays.values()]
        checksum = 0
        for chunk, padding in chunks:
            checksum = zlib.crc32(padding, zlib.crc32(chunk, checksum))
        header = json.dumps(
            {
                "format": FORMAT,
                "data_sha256": data_digest,
                "reserved": _RESERVED_KEY,
                "payload_crc32": checksum,
                "arrays": [
                    [name, _typecode(value), chunk.nbytes, chunk.nbytes + len(padding)]
                    for (name, value), (chunk, padding) in zip(arrays.items(), chunks)
                ],
                "strings": built.columns.strings,
            }
        ).encode()
        header += b" " * (-(len(MAGIC) + _LENGTH_AND_CRC.size + len(header)) % _ALIGN)
        target = cache_path(cache_dir, data_digest)
        handle, temporary = tempfile.mkstemp(dir=cache_dir, prefix=".prefix-index-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(MAGIC + _LENGTH_AND_CRC.pack(len(header), zlib.crc32(header)) + header)
                for chunk, padding in chunks:
                    out.write(chunk)
                    out.write(padding)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(cache_dir, keep=target)
    except OSError as exc:
        log.warning("spectrum_acl: could not write the compiled index cache in %s: %s", cache_dir, exc)


def _prune(cache_dir, keep):
    for name in os.listdir(cache_dir):
        path = os.path.join(cache_dir, name)
        if name.startswith("prefix-index-") and path != keep:
            try:
                os.unlink(path)
            except OSError:
                pass


def load(cache_dir, data_digest):
    """The cached index for ``data_digest``, or ``None`` when absent, stale or corrupt.

    The file is mapped, not read: the index's arrays are views of the mapping. The header's
    checksum is checked on every load, the payload's when the file is not, by its stat
    (device, inode, size, mtime and ctime, as for the data file), the one an earlier load
    checked in full: a warm load reads little more than the header.
    """
    path = cache_path(cache_dir, data_digest)
    try:
        handle = safe_files.open_trusted(path, "cache file")
    except safe_files.UnsafePath as exc:
        log.warning("spectrum_acl: ignoring %s; rebuilding", exc)
        return None
    except OSError:
        return None
    try:
        with handle:
            stat = os.fstat(handle.fileno())
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        verified = _verified_before(cache_dir, path, _key_of(stat))
        built = _decode(memoryview(mapped), data_digest, check_payload=not verified)
        if not verified:
            _remember_verified(cache_dir, path, stat)
        return built
    except (OSError, ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError, IndexError) as exc:
        log.warning("spectrum_acl: ignoring the compiled index cache %s (%s); rebuilding", path, exc)
        return None


def _decode(blob, data_digest, check_payload=True):
    if bytes(blob[:len(MAGIC)]) != MAGIC:
        raise ValueError("not a compiled index file")
    offset = len(MAGIC)
    header_length, header_crc = _LENGTH_AND_CRC.unpack_from(blob, offset)
    offset += _LENGTH_AND_CRC.size
    header_bytes = bytes(blob[offset:offset + header_length])
    if len(header_bytes) != header_length or zlib.crc32(header_bytes) != header_crc:
        raise ValueError("header checksum mismatch")
    header = json.loads(header_bytes.decode())
    offset += header_length
    if header["format"] != FORMAT or header["reserved"] != _RESERVED_KEY or header["data_sha256"] != data_digest:
        raise ValueError("made for other data or another format")
    payload = blob[offset:]
    if check_payload and zlib.crc32(payload) != header["payload_crc32"]:
        raise ValueError("payload checksum mismatch")
    arrays, position = {}, 0
    for name, typecode, length, stored in header["arrays"]:
        chunk = payload[position:position + length]
        if len(chunk) != length or position + stored > len(payload):
            raise ValueError("truncated")
        position += stored
        arrays[name] = chunk if typecode == "B" else chunk.cast(typecode)
    if position != len(payload):
        raise ValueError("payload has the wrong length")
    return _assemble(arrays, header["strings"])


def _typecode(value):
    if isinstance(value, array):
        return value.typecode
    return value.format if isinstance(value, memoryview) else "B"


def _assemble(arrays, strings):
    columns = index.Columns()
    columns.kind, columns.version, columns.prefixlen = arrays["kind"], arrays["version"], arrays["prefixlen"]
    columns.first = index.WideInts(arrays["first_high"], arrays["first_low"])  # views of the mapping
    columns.account, columns.detail, columns.parent = arrays["account"], arrays["detail"], arrays["parent"]
    columns.strings = strings
    labels = index.Labels()
    labels.prefix, labels.reserved = arrays["label_prefix"], arrays["label_reserved"]
    labels.flags = arrays["label_flags"]
    labels.delegation_start, labels.delegation_end = arrays["label_delegation_start"], arrays["label_delegation_end"]
    labels.delegations = arrays["label_delegations"]
    if not len(arrays["v4_starts"]) == len(arrays["v4_labels"]) == len(arrays["v4_bindings"]):
        raise ValueError("IPv4 segment columns disagree")
    if not len(arrays["v6_keys"]) == 16 * len(arrays["v6_labels"]) == 16 * len(arrays["v6_bindings"]):
        raise ValueError("IPv6 segment columns disagree")
    segments = index.Segments(arrays["v4_starts"], arrays["v4_labels"], arrays["v4_bindings"],
                              arrays["v6_keys"], arrays["v6_labels"], arrays["v6_bindings"])
    built = index.PrefixIndex.from_parts(columns, labels, segments)
    if len(arrays["v4_buckets"]) != index.V4_BUCKETS + 1:
        raise ValueError("bucket table has the wrong size")
    built._v4_buckets = arrays["v4_buckets"]
    return built
