"""Whose problem a failing lint is: the change under check (exit 1), or the setup around it (exit 2).

Exit 1 means the pillar has findings: the pull request's author has something
to fix. Everything that keeps the lint from judging the pillar is exit 2 and
says that it is not the change's fault:

- the lint's own configuration, the minion config, the prefix data;
- the Addressing API failing or unreachable (:class:`OutageWatch`): without it,
  every origin would be denied (fail closed) and reported as a finding;
- a pillar file that does not render, when the change did not touch it.

Which files the change touched comes from ``--changed-files FILE`` (one path a
line, as ``git diff --name-only BASE...HEAD`` prints them, relative to the
working directory) or ``--changed PATH...``. A render error in a touched file
(or a missing SLS that a touched top file or include names, or that the change
deleted) is the change's own: a ``render`` finding, exit 1. Without either
option every render error is exit 2, as before they existed.
"""

import os
import sys

from saltext.spectrum_acl.errors import BackendError, SpectrumAclError

#: What exit 2 tells a reader of CI logs, after the error itself.
INFRASTRUCTURE_NOTE = (
    "exit 2: the lint could not judge the pillar (its configuration, the prefix data, the Addressing API, "
    "or a pillar file the change did not touch); this is not a finding against the change under check"
)


class LintInfrastructureError(SpectrumAclError):
    """The lint could not judge the change because of something around it (exit 2)."""


def changed_files(args):
    """The absolute paths ``--changed-files`` and ``--changed`` name, or ``None`` when neither is given."""
    if args.changed_files is None and args.changed is None:
        return None
    paths = list(args.changed or [])
    if args.changed_files is not None:
        try:
            if args.changed_files == "-":
                text = sys.stdin.read()
            else:
                with open(args.changed_files, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise LintInfrastructureError(f"cannot read --changed-files {args.changed_files!r}: {exc}") from None
        paths += [line.strip() for line in text.splitlines() if line.strip()]
    return {os.path.abspath(path) for path in paths}


def blame_render_errors(error, changed, pillar_roots):
    """``(the change's own errors, errors elsewhere)`` of a :class:`PillarRenderError` and its siblings."""
    tops = {os.path.join(root, "top.sls") for roots in (pillar_roots or {}).values() for root in roots}
    own, elsewhere = [], []
    for each in error.errors:
        if each.missing:  # the change deleted it, or named it in a top file or include it touched
            named = {os.path.abspath(path) for path in each.missing} | tops | ({os.path.abspath(each.file)} if each.file else set())
            touched = bool(changed & named) or any(_mentions(path, each.sls) for path in changed if path.endswith(".sls"))
        else:
            touched = bool(each.file) and os.path.abspath(each.file) in changed
        (own if touched else elsewhere).append(each)
    return own, elsewhere


def _mentions(path, text):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return text in handle.read()
    except OSError:
        return False


class OutageWatch:
    """The guard's remote judge (the Addressing API client), noting every failure it answers with.

    The guard still denies such an origin (fail closed); the lint then reports the
    outage as exit 2 instead of one finding per origin.
    """

    def __init__(self, remote):
        self.remote = remote
        self.failures = []

    def prefetch(self, pairs):
        return self.remote.prefetch(pairs)

    def judge(self, network, account_id):
        try:
            return self.remote.judge(network, account_id)
        except BackendError as exc:
            self.failures.append(exc)
            raise

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.remote, name)

    def raise_if_failed(self):
        if self.failures:
            count = len(self.failures)
            raise LintInfrastructureError(
                f"the Addressing API failed, so {count} origin{'' if count == 1 else 's'} could not be judged: "
                f"{self.failures[0]}"
            )
