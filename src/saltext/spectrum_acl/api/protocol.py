"""The Addressing API's wire format, shared by the client and the reference server.

::

    GET {url}/edge_services/spectrum/validate_origin_ip_acl?cidr=A&cidr=B[&account_id=X]
    Authorization: Bearer <token>

    200 {"success": true, "errors": [], "messages": [],
         "result": {"allowed_origins": {"A": {"allowed": true, "is_managed": true, ...}}}}

The five flags are :data:`saltext.spectrum_acl.core.verdict.FLAGS`.

>>> envelope(errors=[{"code": BAD_CIDR, "message": "invalid cidr"}])["success"]
False
"""

ENDPOINT_PATH = "/edge_services/spectrum/validate_origin_ip_acl"
#: Most ``cidr`` values one request may carry (the reference server's bound, and the client's ``batch_size`` cap).
MAX_CIDRS = 1000

#: Error codes in the envelope.
AUTH_ERROR, BAD_CIDR, TOO_MANY_CIDRS, NO_CIDR, BAD_ACCOUNT, NOT_FOUND, BAD_METHOD, BUSY = (
    10000, 1001, 1002, 1003, 1004, 1005, 1006, 1007
)


def envelope(result=None, errors=()):
    """The API's JSON envelope."""
    return {"success": not errors, "errors": list(errors), "messages": [], "result": result}
