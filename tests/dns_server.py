"""A real DNS server on 127.0.0.1 for tests: UDP, answers from a small zone, built on dnspython.

    with DnsServer({"origin.example": {"A": ["192.0.2.1"]}}) as server:
        ...  # ask 127.0.0.1:server.port

Zone values: ``{"A": [...], "AAAA": [...], "CNAME": "target", "SRV": ["0 5 5432 db.example."]}``.
A name not in the zone is NXDOMAIN; a name whose value is ``"timeout"`` is never answered.
``queries`` lists ``(name, type)`` of every question asked.
"""

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self, zone, ttl=60):
        self.zone = {name.lower().rstrip("."): records for name, records in zone.items()}
        self.ttl = ttl
        self.queries = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except OSError:
                continue
            try:
                query = dns.message.from_wire(wire)
            except Exception:  # a test server ignores garbage
                continue
            reply = self._answer(query)
            if reply is not None:
                self._socket.sendto(reply.to_wire(), peer)

    def _answer(self, query):
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        records = self.zone.get(name)
        if records == "timeout":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if records is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        if "CNAME" in records:
            target = records["CNAME"]
            response.answer.append(dns.rrset.from_text(question.name, self.ttl, "IN", "CNAME", target))
            for value in (self.zone.get(target.lower().rstrip("."), {}) or {}).get(rdtype, []):
                response.answer.append(dns.rrset.from_text(target, self.ttl, "IN", rdtype, value))
            return response
        values = records.get(rdtype, [])
        if values:
            response.answer.append(dns.rrset.from_text_list(question.name, self.ttl, "IN", rdtype, values))
        return response
