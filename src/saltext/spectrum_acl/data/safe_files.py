"""Files the guard relies on are trusted only when safe, in the manner of OpenSSH's StrictModes.

Prefix data, the compiled index cache and its directory decide what the guard
allows, so whoever can write them can switch the guard off. A path is safe when:

- the file (or directory) is owned by the effective user or by root;
- it is not writable by group or others;
- every directory above it is owned by the effective user or root, and is not
  writable by group or others unless it has the sticky bit (like ``/tmp``), so
  nobody else can rename it away and put their own in its place;
- a file is a regular file: a FIFO or a device (or a symlink to one) would
  hang or mislead a reader. Files are opened non-blocking and checked with
  ``fstat`` on the open descriptor, so what is checked is what is read.
"""

import logging
import os
import stat

from saltext.spectrum_acl.errors import SpectrumAclError

log = logging.getLogger(__name__)


class UnsafePath(SpectrumAclError):
    """A path the guard will not trust; ``reason`` says why in words a person can act on."""

    def __init__(self, path, reason, what="file"):
        super().__init__(f"{what} {path!r} is not safe to trust: {reason}")
        self.path = path
        self.reason = reason


def _owner_problem(status):
    if status.st_uid not in (os.geteuid(), 0):
        return f"it is owned by uid {status.st_uid}, not by this user (uid {os.geteuid()}) or root"
    return None


def _writable_problem(status, allow_sticky=False):
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        if allow_sticky and status.st_mode & stat.S_ISVTX:
            return None
        return f"it is writable by group or others (mode {stat.S_IMODE(status.st_mode):04o}); chmod go-w it"
    return None


def _ancestors_problem(path):
    """Why a directory above ``path`` is unsafe, or ``None``."""
    parent = os.path.dirname(os.path.realpath(path))
    while True:
        status = os.stat(parent)
        problem = _owner_problem(status) or _writable_problem(status, allow_sticky=True)
        if problem:
            return f"directory {parent!r} above it is unsafe: {problem}"
        above = os.path.dirname(parent)
        if above == parent:
            return None
        parent = above


def check_directory(path, what="directory"):
    """Raise :class:`UnsafePath` unless ``path`` is a safe, existing directory."""
    try:
        status = os.stat(path)
        problem = (
            None if stat.S_ISDIR(status.st_mode) else "it is not a directory"
        ) or _owner_problem(status) or _writable_problem(status) or _ancestors_problem(path)
    except OSError as exc:
        raise UnsafePath(path, exc.strerror or str(exc), what) from None
    if problem:
        raise UnsafePath(path, problem, what)


def _file_kind(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def open_trusted(path, what="file"):
    """Open ``path`` for reading in binary, after checking it is a safe regular file.

    Raises :class:`UnsafePath` for an unsafe file and ``OSError`` when it cannot be opened.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        status = os.fstat(descriptor)
        problem = None if stat.S_ISREG(status.st_mode) else f"it is {_file_kind(status.st_mode)}"
        problem = problem or _owner_problem(status) or _writable_problem(status) or _ancestors_problem(path)
        if problem:
            raise UnsafePath(path, problem, what)
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_trusted(path, what="file"):
    """The bytes of ``path``, read only when it is a safe regular file (see :func:`open_trusted`)."""
    with open_trusted(path, what) as handle:
        return handle.read()


def read_secret(path, what="token file"):
    """The stripped text of a secret file (an API token), read only when safe.

    Like :func:`read_trusted`, and a warning when others may read it (``chmod 600``).
    Raises :class:`UnsafePath`, ``OSError`` or ``UnicodeDecodeError``; the text is never in an error.
    """
    with open_trusted(path, what) as handle:
        mode = os.fstat(handle.fileno()).st_mode
        text = handle.read().decode("utf-8").strip()
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("spectrum_acl: %s %s is readable by other users; chmod 600 it", what, path)
    return text
