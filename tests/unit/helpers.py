"""Shared builders for the engine unit tests: prefix data, guards, fake resolvers."""

from saltext.spectrum_acl.core import index, reserved
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.core.resolver import Resolution, ResolutionError
from saltext.spectrum_acl.data import prefix_data

#: A small prefix data document used by the decision and app tests.
#: 104.16.0.0/13 is the provider's, with a delegation and a Spectrum binding;
#: 104.17.8.0/24 is nested inside it and owned by "team"; 45.91.88.0/22 is a BYOIP
#: prefix whose owner "acme" has its own edge IP in it; 44.10.20.0/24 is a lone /24
#: in otherwise unmanaged space.
DOC = {
    "prefixes": [
        {
            "cidr": "104.16.0.0/13",
            "account_id": "provider",
            "description": "CDN edge",
            "delegations": [{"cidr": "104.16.5.0/24", "delegated_account_id": "crossbow"}],
            "bindings": [
                {"cidr": "104.16.5.10/32", "service_name": "Spectrum"},
                {"cidr": "104.16.6.1/32", "service_name": "Magic Transit"},
            ],
        },
        {"cidr": "104.17.8.0/24", "account_id": "team", "description": "team range"},
        {
            "cidr": "45.91.88.0/22",
            "account_id": "acme",
            "description": "BYOIP",
            "bindings": [{"cidr": "45.91.88.1/32", "service_name": "Spectrum"}],
        },
        {"cidr": "44.10.20.0/24", "account_id": "ham"},
        {
            "cidr": "2606:4700::/32",
            "account_id": "provider",
            "delegations": [{"cidr": "2606:4700:10::/48", "delegated_account_id": "crossbow"}],
            "bindings": [{"cidr": "2606:4700::6810:5:a/128", "service_name": "Spectrum"}],
        },
    ]
}


def build_index(document=None):
    entries = prefix_data.entries_from_document(document) if document is not None else []
    return index.PrefixIndex(entries + reserved.reserved_entries())


def build_guard(document=None, resolver=None, app_bindings=None):
    return OriginGuard(build_index(document), app_bindings=app_bindings, resolver=resolver)


class FakeResolver:
    """``name -> addresses`` (or a ``Resolution``); an exception instance as the answer is raised instead."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def lookup(self, name, record_type=""):
        self.calls.append(name)
        if name not in self.table:
            raise ResolutionError(f"NXDOMAIN {name}")
        answer = self.table[name]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, Resolution):
            return answer
        return Resolution(name, record_type, tuple(answer or ()))
