"""The Addressing API's wire format, shared by the client, the snapshot and the reference server.

::

    GET {url}/edge_services/spectrum/validate_origin_ip_acl?cidr=A&cidr=B[&account_id=X]
    Authorization: Bearer <token>

    200 {"success": true, "errors": [], "messages": [],
         "result": {"allowed_origins": {"A": {"allowed": true, "is_managed": true, ...}}}}

The five flags are :data:`saltext.spectrum_acl.core.verdict.FLAGS`.

The listings the snapshot reads (the provider's public Addressing API) page with
``?page=N&per_page=M`` and say where they are in ``result_info``::

    GET {url}/accounts/{account_id}/addressing/prefixes
    GET {url}/accounts/{account_id}/addressing/prefixes/{prefix_id}/delegations
    GET {url}/accounts/{account_id}/addressing/prefixes/{prefix_id}/bindings
    GET {url}/ips                      (not paged: result.ipv4_cidrs, result.ipv6_cidrs)

    200 {"success": true, "errors": [], "messages": [], "result": [...],
         "result_info": {"page": 1, "per_page": 50, "count": 50, "total_count": 120, "total_pages": 3}}

>>> envelope(errors=[{"code": BAD_CIDR, "message": "invalid cidr"}])["success"]
False
>>> page_bounds(total=5, page=3, per_page=2)
(4, 5, {'page': 3, 'per_page': 2, 'count': 1, 'total_count': 5, 'total_pages': 3})
"""

ENDPOINT_PATH = "/edge_services/spectrum/validate_origin_ip_acl"
#: Most ``cidr`` values one request may carry (the reference server's bound, and the client's ``batch_size`` cap).
MAX_CIDRS = 1000

#: The listings, as ``str.format`` templates of the path below the API's base URL.
PREFIXES_PATH = "/accounts/{account_id}/addressing/prefixes"
DELEGATIONS_PATH = PREFIXES_PATH + "/{prefix_id}/delegations"
BINDINGS_PATH = PREFIXES_PATH + "/{prefix_id}/bindings"
IPS_PATH = "/ips"
#: ``per_page`` when a listing request gives none, and the most the reference server serves.
DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 1000

#: Error codes in the envelope.
AUTH_ERROR, BAD_CIDR, TOO_MANY_CIDRS, NO_CIDR, BAD_ACCOUNT, NOT_FOUND, BAD_METHOD, BUSY, BAD_PAGE = (
    10000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008
)


def envelope(result=None, errors=(), result_info=None):
    """The API's JSON envelope; ``result_info`` only for a listing."""
    document = {"success": not errors, "errors": list(errors), "messages": [], "result": result}
    if result_info is not None:
        document["result_info"] = result_info
    return document


def page_bounds(total, page, per_page):
    """``(start, stop, result_info)`` of one page (numbered from 1) of ``total`` items; past the end it is empty."""
    start = min((page - 1) * per_page, total)
    stop = min(start + per_page, total)
    info = {"page": page, "per_page": per_page, "count": stop - start, "total_count": total,
            "total_pages": -(-total // per_page)}
    return start, stop, info
