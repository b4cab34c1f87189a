"""The proxy templates in ``examples/salt/edge/``, rendered through the real ``spectrum_acl.app_config`` state.

Every rendered config must pass the proxy's own check (``haproxy -c``, ``nginx -t``); what a
proxy cannot express is refused at render time, by app, and nothing is written.

``nginx -t`` binds the addresses it listens on, so configs with static edge IPs are checked in
a private network namespace (``unshare --net``) where those addresses exist on its own
loopback; nothing outside the namespace is touched.
"""

import datetime
import functools
import itertools
import os
import pathlib
import shutil
import subprocess
import uuid

import pytest
import yaml
from saltfactories.utils.functional import Loaders

from tests.conftest import EXAMPLES
from tests.dns_server import DnsServer

# Debian installs both in /usr/sbin, which is not on every user's PATH.
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path=SBIN)
NGINX = shutil.which("nginx") or shutil.which("nginx", path=SBIN)
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
HAPROXY_SOURCE = "salt://edge/haproxy.cfg.jinja"
NGINX_SOURCE = "salt://edge/nginx-stream.conf.jinja"

needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy; .ci/run does)")
needs_nginx = pytest.mark.skipif(
    NGINX is None or not pathlib.Path(STREAM_MODULE).exists(),
    reason=f"nginx with the stream module is not installed (apt-get install nginx-light libnginx-mod-stream; .ci/run does): {STREAM_MODULE}",
)

ZONE = {
    "origin.example.net": {"A": ["93.184.215.14"], "AAAA": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"]},
    "_db._tcp.db.example.net": {"SRV": ["0 5 5432 db1.example.net.", "0 5 5433 db2.example.net."]},
    "db1.example.net": {"A": ["93.184.215.20"]},
    "db2.example.net": {"A": ["93.184.215.21"], "AAAA": ["2606:2800:21f:cb07::21"]},
}


def _app(protocol, origin, edge=None, **fields):
    app = {"account_id": "crossbow", "protocol": protocol, "dns": {"type": "CNAME", "name": "app.crossbow.example.com"}}
    app["edge_ips"] = {"type": "static", "ips": edge} if isinstance(edge, list) else {"type": "dynamic", "connectivity": edge or "all"}
    if isinstance(origin, list):
        app["origin_direct"] = origin
    else:
        app["origin_dns"] = origin
    app.update(fields)
    return app


# Each example: apps, and whether the minion pins origin_dns addresses (spectrum_acl:pin_dns).
TCP = {
    "ssh": _app("tcp/22", ["tcp://104.16.5.20:22", "tcp://[2606:4700::6810:5:14]:22"], ["104.16.5.11", "2606:4700::6810:5:b"], proxy_protocol="v1"),
    "ports-same": _app("tcp/1000-1010", ["tcp://93.184.215.14:1000-1010", "tcp://93.184.215.15:1000-1010"], ["104.16.5.12"]),
    "ports-shifted": _app("tcp/2000-2004", ["tcp://93.184.215.14:5000-5004", "tcp://[2606:2800:21f:cb07::15]:6000-6004"]),
    "ports-one-shifted": _app("tcp/3000-3002", ["tcp://93.184.215.14:7000-7002"], "ipv4"),
    "db": _app("tcp/5432", ["tcp://93.184.215.14:5432"], "ipv4"),
    "v6-only": _app("tcp/8443", ["tcp://93.184.215.16:443"], "ipv6"),
}
BY_NAME = {
    "api": _app("tcp/443", {"name": "origin.example.net", "ttl": 600}, ["104.16.5.13"], origin_port=443, proxy_protocol="v1"),
    "api-v4": _app("tcp/4000-4003", {"name": "origin.example.net", "type": "A"}, ["104.16.5.14"], origin_port="4000-4003"),
    "api-v4-shifted": _app("tcp/4100-4103", {"name": "origin.example.net", "type": "A"}, ["104.16.5.15"], origin_port="9100-9103"),
}
SRV = {"db-srv": _app("tcp/5432", {"name": "_db._tcp.db.example.net", "type": "SRV"}, ["104.16.5.16"])}
AAAA = {"api-v6": _app("tcp/444", {"name": "origin.example.net", "type": "AAAA"}, ["104.16.5.17"], origin_port=443)}
PROXY_V2 = {"api-v2": _app("tcp/443", ["tcp://93.184.215.14:443"], ["104.16.5.18"], proxy_protocol="v2")}
UDP = {
    "game": _app("udp/27015-27030", ["udp://93.184.215.14:27015-27030", "udp://93.184.215.15:27015-27030"], ["104.16.5.19"]),
    "dns": _app("udp/53", ["udp://93.184.215.14:53", "udp://93.184.215.15:5353"], ["104.16.5.21"]),
    "voice": _app("udp/9000-9001", ["udp://93.184.215.14:19000-19001"], ["104.16.5.22"]),
}
TLS = {
    "tls-flexible": _app("tcp/443", ["tcp://93.184.215.14:80"], ["104.16.5.23"], tls="flexible", ip_firewall=True),
    "tls-full": _app("tcp/8443", ["tcp://93.184.215.14:443", "tcp://93.184.215.15:443"], ["104.16.5.24"], tls="full"),
    "tls-strict": _app("tcp/9443", {"name": "origin.example.net"}, ["104.16.5.25"], origin_port=443, tls="strict", ip_firewall=True),
}
TLS_DIRECT_STRICT = {"tls-strict-direct": _app("tcp/9444", ["tcp://93.184.215.14:443"], ["104.16.5.26"], tls="strict")}
PINNED_PLUS_SRV = {**BY_NAME, **SRV, **AAAA}

EXAMPLES_ACCEPTED = {
    # example: (apps, pin_dns, templates that express every app of it)
    "tcp": (TCP, False, {"haproxy", "nginx"}),
    "origin-dns-by-name": (BY_NAME, False, {"haproxy", "nginx"}),
    "origin-dns-srv-by-name": (SRV, False, {"haproxy"}),
    "origin-dns-pinned": (PINNED_PLUS_SRV, True, {"haproxy", "nginx"}),
    "proxy-protocol-v2": (PROXY_V2, False, {"haproxy"}),
    "udp": (UDP, False, {"nginx"}),
    "tls-and-firewall": (TLS, False, {"haproxy", "nginx"}),
    "tls-strict-direct": (TLS_DIRECT_STRICT, False, {"haproxy"}),
}


@pytest.fixture(scope="module")
def dns_server():
    with DnsServer(ZONE) as server:
        yield server


def _loaders(salt_factories, tmp_path_factory, dns_server, pin_dns):
    pillar = tmp_path_factory.mktemp("pillar")
    (pillar / "top.sls").write_text("base: {}\n")
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(EXAMPLES / "salt")]},
        "pillar_roots": {"base": [str(pillar)]},
        "spectrum_acl": {
            "prefix_data": str(EXAMPLES / "prefixes.yaml"),
            "accounts": ["crossbow", "acme", "partner"],
            "nameservers": ["127.0.0.1"],
            "dns_port": dns_server.port,
            "dns_timeout": 2,
            "static_hosts": {"origin.partner.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]},
            "pin_dns": pin_dns,
        },
    }
    factory = salt_factories.salt_minion_daemon(f"proxy-{uuid.uuid4().hex[:8]}", overrides=overrides)
    return Loaders(factory.config.copy(), loaded_base_name=f"{__name__}.loaded{int(pin_dns)}")


@pytest.fixture(scope="module")
def loaders(salt_factories, tmp_path_factory, dns_server):
    made = {pin: _loaders(salt_factories, tmp_path_factory, dns_server, pin) for pin in (False, True)}
    yield made
    for loader in made.values():
        loader.reset_state()


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    """A self-signed certificate (and key) for every app with tls, and the CA file that trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app.crossbow.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("app.crossbow.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    pem += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for app in ("tls-flexible", "tls-full", "tls-strict", "tls-strict-direct", "partner-db"):
        (folder / f"{app}.pem").write_bytes(pem)
    (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return folder


def _context(tmp_path, tls_dir):
    return {
        "resolvers": ["127.0.0.1", "::1"],
        "tls_dir": str(tls_dir),
        "tls_ca_file": str(tls_dir / "ca.pem"),
        "ip_access_rules": [{"deny": "192.0.2.0/24"}, {"allow": "198.51.100.0/24"}, {"deny": "2001:db8::/32"}],
        "pid": str(tmp_path / "nginx.pid"),
        "error_log": str(tmp_path / "nginx-error.log"),
    }


def render(loaders, source, target, apps, context, pin_dns=False, **kwargs):
    """``spectrum_acl.app_config`` with a template, through Salt's real state loader."""
    loader = loaders[pin_dns]
    try:
        return loader.states.spectrum_acl.app_config(name=str(target), apps=apps, source=source, context=context, **kwargs)
    finally:
        loader.reset_state()


def haproxy_check(path):
    run = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, f"haproxy -c refused {path}:\n{run.stdout}{run.stderr}\n{path.read_text()}"


@functools.cache
def _namespace_works():
    unshare = shutil.which("unshare")
    return unshare is not None and subprocess.run([unshare, "--net", "true"], capture_output=True, timeout=30, check=False).returncode == 0


def nginx_check(path, tmp_path, edge_ips=None):
    """``nginx -t`` on ``path``. It binds every listen address: with ``edge_ips`` (a list), in a private
    network namespace made for the check, with those addresses on its own loopback."""
    command = [NGINX, "-t", "-c", str(path), "-p", str(tmp_path), "-e", str(tmp_path / "nginx-error.log")]
    if edge_ips is not None:
        script = ["PATH=$PATH:" + SBIN, "ip link set lo up"]
        script += [f"ip addr add {ip}/128 dev lo nodad" if ":" in ip else f"ip addr add {ip}/32 dev lo" for ip in edge_ips]
        script.append(" ".join(command))
        run = subprocess.run(["unshare", "--net", "sh", "-ec", " && ".join(script)], capture_output=True, text=True, timeout=60, check=False)
    else:
        run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, f"nginx -t refused {path}:\n{run.stdout}{run.stderr}\n{path.read_text()}"


CHECKS = {"haproxy": (HAPROXY_SOURCE, needs_haproxy), "nginx": (NGINX_SOURCE, needs_nginx)}
ACCEPTED = [
    pytest.param(proxy, example, id=f"{proxy}-{example}", marks=CHECKS[proxy][1])
    for example, (_, _, proxies) in EXAMPLES_ACCEPTED.items()
    for proxy in sorted(proxies)
]


@pytest.mark.parametrize(("proxy", "example"), ACCEPTED)
def test_every_rendered_example_passes_the_proxys_own_check(loaders, tls_dir, tmp_path, proxy, example):
    apps, pin_dns, _ = EXAMPLES_ACCEPTED[example]
    target = tmp_path / f"{proxy}.conf"
    ret = render(loaders, CHECKS[proxy][0], target, apps, _context(tmp_path, tls_dir), pin_dns)
    assert ret.result is True, ret.comment
    assert f"{len(apps)} apps" in ret.comment
    text = target.read_text()
    for name in apps:
        assert f"# {name}: account crossbow" in text
    if proxy == "haproxy":
        haproxy_check(target)
    elif _namespace_works():
        edge_ips = sorted({ip for app in apps.values() if app["edge_ips"]["type"] == "static" for ip in app["edge_ips"]["ips"]})
        nginx_check(target, tmp_path, edge_ips)
    elif os.geteuid() == 0:
        # No private network namespace here: the same apps listening on 127.0.0.1 instead.
        ret = render(loaders, NGINX_SOURCE, target, apps, {**_context(tmp_path, tls_dir), "bind_address": "127.0.0.1"}, pin_dns)
        assert ret.result is True, ret.comment
        nginx_check(target, tmp_path)
    else:
        pytest.skip("nginx -t binds what it listens on (edge IPs, ports below 1024): that needs root")


UDP_PROXY_V1 = {"u": _app("udp/53", ["udp://93.184.215.14:53"], proxy_protocol="v1")}
HTTP = {"h": _app("tcp/80", ["tcp://93.184.215.14:80"], traffic_type="http")}
SIMPLE = {"s": _app("tcp/5000", ["tcp://93.184.215.14:5000"], proxy_protocol="simple")}
UDP_TLS = {"t": _app("udp/5000", ["udp://93.184.215.14:5000"], tls="full")}
SRV_RANGE = {"r": _app("tcp/6000-6001", {"name": "_db._tcp.db.example.net", "type": "SRV"})}
REFUSED = [
    # proxy, apps, pin_dns, context overrides (None: left out), the start of the refusal's line
    pytest.param("haproxy", UDP, False, {}, "app 'dns': protocol: udp/53: HAProxy cannot proxy UDP", id="haproxy-udp"),
    pytest.param("haproxy", UDP, False, {}, "app 'game': protocol: udp/27015-27030: HAProxy cannot proxy UDP", id="haproxy-udp-range"),
    pytest.param("nginx", PROXY_V2, False, {}, "app 'api-v2': proxy_protocol: v2: nginx sends PROXY protocol v1 only", id="nginx-proxy-v2"),
    pytest.param("nginx", UDP_PROXY_V1, False, {}, "app 'u': proxy_protocol: v1: nginx sends the PROXY protocol on tcp only", id="nginx-udp-proxy-v1"),
    pytest.param("nginx", SRV, False, {}, "app 'db-srv': origin_dns: nginx cannot resolve SRV records (_db._tcp.db.example.net)", id="nginx-srv"),
    pytest.param("nginx", AAAA, False, {}, "app 'api-v6': origin_dns: nginx 1.22 cannot resolve origin.example.net to AAAA only", id="nginx-aaaa"),
    pytest.param("nginx", TLS_DIRECT_STRICT, False, {}, "app 'tls-strict-direct': tls: strict: nginx checks the origin certificate against one name",
                 id="nginx-strict-direct"),
    pytest.param("haproxy", BY_NAME, False, {"resolvers": []}, "app 'api': origin_dns: HAProxy resolves origin.example.net itself and needs resolvers",
                 id="haproxy-no-resolvers"),
    pytest.param("nginx", BY_NAME, False, {"resolvers": []}, "app 'api': origin_dns: nginx resolves origin.example.net itself and needs resolvers",
                 id="nginx-no-resolvers"),
    pytest.param("haproxy", TLS, False, {"tls_dir": None}, "app 'tls-full': tls: full needs a certificate: give tls_dir (holding tls-full.pem)", id="no-tls-dir"),
    pytest.param("nginx", TLS, False, {"ip_access_rules": None}, "app 'tls-strict': ip_firewall: true needs the rules: give ip_access_rules", id="no-rules"),
    pytest.param("nginx", TLS, False, {"ip_access_rules": ["deny 10.0.0.0/8"]}, "app 'tls-flexible': ip_firewall: ip_access_rules[0] is not {allow: CIDR}",
                 id="bad-rule"),
    pytest.param("haproxy", HTTP, False, {}, "app 'h': traffic_type: http asks for the provider's HTTP features", id="http"),
    pytest.param("nginx", SIMPLE, False, {}, "app 's': proxy_protocol: simple (Simple Proxy Protocol) is not sent", id="simple-proxy-protocol"),
    pytest.param("nginx", UDP_TLS, False, {}, "app 't': tls: full: TLS cannot be terminated on udp", id="udp-tls"),
    pytest.param("haproxy", SRV_RANGE, True, {}, "app 'r': origin_dns: SRV records carry one port per target", id="srv-port-range"),
]


@pytest.mark.parametrize(("proxy", "apps", "pin_dns", "overrides", "expected"), REFUSED)
def test_what_a_proxy_cannot_express_is_refused_by_app_and_nothing_is_written(loaders, tls_dir, tmp_path, proxy, apps, pin_dns, overrides, expected):
    target = tmp_path / "edge.conf"
    target.write_bytes(b"the config in service\n")
    context = {key: value for key, value in {**_context(tmp_path, tls_dir), **overrides}.items() if value is not None}
    ret = render(loaders, CHECKS[proxy][0], target, apps, context, pin_dns)
    assert ret.result is False
    assert ret.changes == {}
    assert f"{CHECKS[proxy][0]} cannot express, so nothing was written" in ret.comment
    assert any(line.startswith(expected) for line in _refusals(ret.comment)), ret.comment
    assert target.read_bytes() == b"the config in service\n"


def test_every_refusal_of_a_render_is_reported_at_once(loaders, tls_dir, tmp_path):
    apps = {**UDP, **TLS}
    ret = render(loaders, HAPROXY_SOURCE, tmp_path / "h.cfg", apps, {"resolvers": ["127.0.0.1"]})
    assert ret.result is False
    refusals = _refusals(ret.comment)
    assert [line.split(": ")[:2] for line in refusals] == [
        ["app 'dns'", "protocol"], ["app 'game'", "protocol"],
        ["app 'tls-flexible'", "ip_firewall"], ["app 'tls-flexible'", "tls"], ["app 'tls-full'", "tls"],
        ["app 'tls-strict'", "ip_firewall"], ["app 'tls-strict'", "tls"],
        ["app 'voice'", "protocol"],
    ]
    assert not (tmp_path / "h.cfg").exists()


def test_denied_origins_never_reach_the_template(loaders, tmp_path):
    apps = {**TCP, "private": _app("tcp/3306", ["tcp://10.20.0.5:3306"])}
    ret = render(loaders, HAPROXY_SOURCE, tmp_path / "h.cfg", apps, {})
    assert ret.result is False
    assert "private: tcp://10.20.0.5:3306 denied" in ret.comment
    assert not (tmp_path / "h.cfg").exists()


@needs_haproxy
def test_haproxy_config_says_what_the_pillar_says(loaders, tls_dir, tmp_path):
    target = tmp_path / "haproxy.cfg"
    ret = render(loaders, HAPROXY_SOURCE, target, {**TCP, **TLS}, _context(tmp_path, tls_dir))
    assert ret.result is True, ret.comment
    sections = _sections(target.read_text())
    assert sections["listen ssh"] == [
        "bind 104.16.5.11:22", "bind [2606:4700::6810:5:b]:22", "balance roundrobin",
        "server origin1 104.16.5.20:22 send-proxy", "server origin2 [2606:4700::6810:5:14]:22 send-proxy",
    ]
    assert sections["listen ports-same"][-2:] == ["server origin1 93.184.215.14", "server origin2 93.184.215.15"]  # the client's port
    assert sections["listen ports-shifted"] == [
        "bind :::2000-2004 v4v6", "balance roundrobin",
        "server origin1 93.184.215.14:+3000", "server origin2 [2606:2800:21f:cb07::15]:+4000",
    ]
    assert sections["listen v6-only"][0] == "bind :::8443 v6only"
    assert sections["listen db"][0] == "bind 0.0.0.0:5432"
    assert sections["listen tls-strict"] == [
        f"bind 104.16.5.25:9443 ssl crt {tls_dir}/tls-strict.pem",
        "tcp-request connection reject if { src 192.0.2.0/24 }",
        "tcp-request connection accept if { src 198.51.100.0/24 }",
        "tcp-request connection reject if { src 2001:db8::/32 }",
        "balance roundrobin",
        f"server-template origin 4 origin.example.net:443 resolvers dns.tls-strict init-addr none ssl verify required ca-file {tls_dir}/ca.pem"
        " sni str(origin.example.net) verifyhost origin.example.net",
    ]
    assert sections["listen tls-full"][-1] == "server origin2 93.184.215.15:443 ssl verify none"
    assert sections["listen tls-flexible"][-1] == "server origin1 93.184.215.14:80"
    assert sections["resolvers dns.tls-strict"] == ["nameserver ns1 127.0.0.1:53", "nameserver ns2 [::1]:53", "accepted_payload_size 8192"]


@needs_haproxy
def test_pinned_addresses_are_the_only_origins(loaders, tls_dir, tmp_path):
    target = tmp_path / "haproxy.cfg"
    ret = render(loaders, HAPROXY_SOURCE, target, PINNED_PLUS_SRV, _context(tmp_path, tls_dir), pin_dns=True)
    assert ret.result is True, ret.comment
    sections = _sections(target.read_text())
    assert "origin.example.net" not in "\n".join(sum(sections.values(), []))  # no name left for the edge to resolve
    assert not any(title.startswith("resolvers") for title in sections)
    assert sections["listen api"][-2:] == [
        "server origin1 93.184.215.14:443 send-proxy", "server origin2 [2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443 send-proxy",
    ]
    assert sections["listen api-v4"][-1] == "server origin1 93.184.215.14"  # A only, port range kept
    assert sections["listen api-v4-shifted"][-1] == "server origin1 93.184.215.14:+5000"
    assert sections["listen api-v6"][-1] == "server origin1 [2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443"
    assert sections["listen db-srv"][-3:] == [
        "server origin1 93.184.215.20:5432", "server origin2 93.184.215.21:5433", "server origin3 [2606:2800:21f:cb07::21]:5433",
    ]


@needs_nginx
def test_nginx_config_says_what_the_pillar_says(loaders, tls_dir, tmp_path):
    target = tmp_path / "nginx.conf"
    ret = render(loaders, NGINX_SOURCE, target, {**TCP, **UDP, **BY_NAME, **TLS}, _context(tmp_path, tls_dir))
    assert ret.result is True, ret.comment
    text = target.read_text()
    assert text.count("load_module /usr/lib/nginx/modules/ngx_stream_module.so;") == 1
    for line in (
        "listen 104.16.5.11:22;", "listen [2606:4700::6810:5:b]:22;", "server 104.16.5.20:22;", "server [2606:4700::6810:5:14]:22;",
        "proxy_protocol on;",
        "listen 104.16.5.12:1000-1010;", 'split_clients "$remote_addr$remote_port" $spectrum_8_origin {',
        '50.00% "93.184.215.14";', '* "93.184.215.15";', "proxy_pass $spectrum_8_origin:$server_port;",
        "listen 2000-2004;", "listen [::]:2000-2004;", 'map "$spectrum_9_origin:$server_port" $spectrum_9_target {',
        '"0:2000" "93.184.215.14:5000";', '"1:2004" "[2606:2800:21f:cb07::15]:6004";',
        "listen 3000-3002;", '"3002" "93.184.215.14:7002";', "listen [::]:8443;",
        "listen 104.16.5.19:27015-27030 udp;", "proxy_pass $spectrum_6_origin:$server_port;",
        "listen 104.16.5.21:53 udp;", "server 93.184.215.15:5353;", "proxy_timeout 1m;",
        "resolver 127.0.0.1 [::1] valid=600s;", "set $spectrum_1_name origin.example.net;", "proxy_pass $spectrum_1_name:443;",
        "resolver 127.0.0.1 [::1] ipv6=off;", "proxy_pass $spectrum_2_name:$server_port;",
        "map $server_port $spectrum_3_port {", "4103 9103;", "proxy_pass $spectrum_3_name:$spectrum_3_port;",
        "listen 104.16.5.25:9443 ssl;", f"ssl_certificate {tls_dir}/tls-strict.pem;", f"ssl_certificate_key {tls_dir}/tls-strict.pem;",
        "deny 192.0.2.0/24;\n        allow 198.51.100.0/24;\n        deny 2001:db8::/32;",
        "proxy_ssl on;\n        proxy_ssl_verify off;",
        f"proxy_ssl_verify on;\n        proxy_ssl_trusted_certificate {tls_dir}/ca.pem;\n        proxy_ssl_name origin.example.net;",
    ):
        assert line in text, line


def _refusals(comment):
    """The refusal lines of a template's error, once (Salt repeats the message in its traceback and excerpt)."""
    lines = comment.split("cannot express, so nothing was written:\n", 1)[1].splitlines()
    return [line for line in itertools.takewhile(lambda line: line.startswith("app '"), lines)]


def _sections(text):
    """HAProxy config as ``{section title: [lines]}``, comments and blank lines left out."""
    sections, current = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(line.strip())
    return sections


def test_the_example_pillar_names_what_each_proxy_cannot_serve(loaders, tls_dir, tmp_path):
    """The repository's example pillar: one app each proxy cannot express, named; nothing written."""
    apps = yaml.safe_load((EXAMPLES / "pillar" / "spectrum.sls").read_text())["spectrum"]["apps"]
    context = _context(tmp_path, tls_dir)
    for source, refused, served in (
        (HAPROXY_SOURCE, "app 'acme-game': protocol: udp/27015-27030: HAProxy cannot proxy UDP; serve it from salt://edge/nginx-stream.conf.jinja", "partner-api"),
        (NGINX_SOURCE, "app 'partner-api': proxy_protocol: v2: nginx sends PROXY protocol v1 only; use v1, or salt://edge/haproxy.cfg.jinja", "acme-game"),
    ):
        ret = render(loaders, source, tmp_path / "edge.conf", apps, context, account_id="crossbow")
        assert ret.result is False
        assert refused in ret.comment
        assert _refusals(ret.comment) == [refused]
        assert served not in ret.comment
    assert not (tmp_path / "edge.conf").exists()
    rest = {name: app for name, app in apps.items() if name != "acme-game"}
    ret = render(loaders, HAPROXY_SOURCE, tmp_path / "haproxy.cfg", rest, context, account_id="crossbow")
    assert ret.result is True, ret.comment
    if HAPROXY:
        haproxy_check(tmp_path / "haproxy.cfg")
