"""End to end through a real HAProxy, on 127.0.0.1 only.

A masterless minion applies ``examples/salt/edge/haproxy.sls``: the guarded state renders the
HAProxy config for an app whose origin is a TCP echo server in this test, ``haproxy -c`` checks
it, and an ``onchanges`` reload signals the HAProxy this test started. Bytes sent to the edge
port come back from the echo server. Then the pillar points the app at a denied origin: the
state fails, the config file stays byte-identical, the reload does not fire, and traffic still
flows through the old config. An allowed change afterwards does reload HAProxy.
``edge/nginx.sls`` gets the same through a real nginx, up to the denied change.

The prefix data grants the test's account 127.0.0.0/8, so loopback origins are allowed for it
(reserved space needs permission for every address, and the account holds the prefix), except
127.0.0.2, a Spectrum binding in it.
"""

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
import uuid

import psutil
import pytest
import yaml

from tests.conftest import EXAMPLES

# Debian installs both in /usr/sbin, which is not on every user's PATH.
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path=SBIN)
NGINX = shutil.which("nginx") or shutil.which("nginx", path=SBIN)
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy; .ci/run does)")
needs_nginx = pytest.mark.skipif(
    NGINX is None or not os.path.exists(STREAM_MODULE),
    reason=f"nginx with the stream module is not installed (apt-get install nginx-light libnginx-mod-stream; .ci/run does): {STREAM_MODULE}",
)

PREFIXES = """\
prefixes:
  - cidr: 127.0.0.0/8
    account_id: e2e
    description: loopback, held by the end-to-end test's account
    bindings:
      - {cidr: 127.0.0.2/32, service_name: Spectrum}
"""


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.server.prefix)
        while chunk := self.request.recv(65536):
            self.request.sendall(chunk)


class _Echo(socketserver.ThreadingTCPServer):
    """A TCP echo server on 127.0.0.1; ``prefix`` goes before the echoed bytes."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, prefix=b""):
        self.prefix = prefix
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _through(port, payload, timeout=10):
    """Send ``payload`` to 127.0.0.1:``port``, half-close, and return everything that comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := conn.recv(65536):
            received += chunk
    return bytes(received)


def _wait_for(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if predicate():
                return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def echoes():
    with _Echo() as first, _Echo(prefix=b"B:") as second:
        yield first, second


def _edge(salt_factories, tmp_path, proxy="haproxy", **context):
    """Paths, the edge port and a masterless minion whose trusted config points ``edge/PROXY.sls`` at them."""
    paths = {name: tmp_path / name for name in ("pillar", "etc", "run", "data")}
    for path in paths.values():
        path.mkdir(mode=0o755)
    (paths["data"] / "prefixes.yaml").write_text(PREFIXES)
    (paths["pillar"] / "top.sls").write_text("base:\n  '*':\n    - spectrum\n")
    run = paths["run"]
    edge = {"proxy": proxy, "paths": paths, "port": _free_port(), "pidfile": run / f"{proxy}.pid", "reload_log": run / "reload.log"}
    edge["config"] = paths["etc"] / f"{proxy}.conf"
    edge["guarded"] = paths["etc"] / f"{proxy}.conf.guarded"
    context = {"bind_address": "127.0.0.1", "timeout_connect": "2s", "timeout_idle": "30s", **context}
    if proxy == "haproxy":
        check_cmd, signal_name = f"{HAPROXY} -q -c -f", "USR2"  # SIGUSR2: the master re-reads the config
        context.setdefault("maxconn", 256)
    else:
        edge["error_log"] = run / "nginx-error.log"
        check_cmd, signal_name = f"{NGINX} -q -t -e {edge['error_log']} -c", "HUP"
        context.update(pid=str(edge["pidfile"]), error_log=str(edge["error_log"]), worker_connections=64)
    # The reload: log it, and signal the proxy's master once there is one.
    pidfile = edge["pidfile"]
    reload = f'echo reload >> {edge["reload_log"]} && if [ -s {pidfile} ]; then kill -{signal_name} "$(cat {pidfile})"; fi'
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(EXAMPLES / "salt")]},
        "pillar_roots": {"base": [str(paths["pillar"])]},
        "spectrum_acl": {"prefix_data": str(paths["data"] / "prefixes.yaml"), "accounts": ["e2e"]},
        "spectrum_edge": {proxy: {"config": str(edge["config"]), "check_cmd": check_cmd, "reload": reload, "context": context}},
    }
    edge["cli"] = salt_factories.salt_minion_daemon(f"e2e-{uuid.uuid4().hex[:8]}", overrides=overrides).salt_call_cli(timeout=120)
    return edge


@pytest.fixture
def edge(salt_factories, tmp_path):
    return _edge(salt_factories, tmp_path)


@pytest.fixture
def daemons():
    """Start a proxy that daemonizes and writes its master's pid; stop it and every worker afterwards."""
    started = []

    def start(command, pidfile):
        run = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), f"{pidfile} to be written")
        master = psutil.Process(int(pidfile.read_text().split()[0]))
        started.append(master)
        return master

    yield start
    for master in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            family = [master, *master.children(recursive=True)]
            for process in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(signal.SIGTERM)
            _, alive = psutil.wait_procs(family, timeout=10)
            for process in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            psutil.wait_procs(alive, timeout=5)


def _apply(edge, origin):
    pillar = {"spectrum": {"account_id": "e2e", "apps": {"e2e-echo": {
        "protocol": f"tcp/{edge['port']}",
        "dns": {"type": "CNAME", "name": "echo.e2e.example"},
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"},
        "origin_direct": [origin],
    }}}}
    (edge["paths"]["pillar"] / "spectrum.sls").write_text(yaml.safe_dump(pillar))
    proxy = edge["proxy"]
    ret = edge["cli"].run("--local", "state.apply", f"edge.{proxy}")
    states = ret.data if isinstance(ret.data, dict) else {}
    found = [
        next((v for k, v in states.items() if k.startswith(state_id)), None)
        for state_id in (f"spectrum_acl_|-spectrum-{proxy}-config", f"file_|-spectrum-{proxy}-in-service", f"cmd_|-spectrum-{proxy}-reload")
    ]
    assert None not in found, ret.stdout + ret.stderr
    return (ret, *found)


def _reloads(edge):
    return len(edge["reload_log"].read_text().splitlines()) if edge["reload_log"].exists() else 0


@needs_haproxy
def test_traffic_flows_and_a_denied_origin_changes_nothing(edge, echoes, daemons):
    first, second = echoes
    payload = os.urandom(200_000)

    # 1. An allowed loopback origin: rendered, accepted by haproxy -c, put in service, reload fired once.
    ret, config_state, service_state, reload_state = _apply(edge, f"tcp://127.0.0.1:{first.port}")
    assert ret.returncode == 0, ret.stdout
    assert config_state["result"] is True
    assert "1 apps, 1 origins allowed" in config_state["comment"]
    assert service_state["result"] is True
    assert edge["config"].read_bytes() == edge["guarded"].read_bytes()
    rendered = edge["config"].read_text()
    assert f"bind 127.0.0.1:{edge['port']}" in rendered
    assert f"server origin1 127.0.0.1:{first.port}" in rendered
    assert reload_state["result"] is True
    assert _reloads(edge) == 1

    # 2. HAProxy on that config: bytes through the edge port come back from the echo server.
    master = daemons([HAPROXY, "-W", "-D", "-p", str(edge["pidfile"]), "-f", str(edge["config"])], edge["pidfile"])
    _wait_for(lambda: _through(edge["port"], b"ping") == b"ping", "HAProxy to forward to the echo server")
    assert _through(edge["port"], payload) == payload
    in_service, guarded = _digest(edge["config"]), _digest(edge["guarded"])

    # 3. Denied origins: reserved space the account does not hold, and a Spectrum binding in its own prefix.
    for origin, reason in (
        (f"tcp://10.0.0.1:{first.port}", "10.0.0.1 is in 10.0.0.0/8 (Private-Use, RFC 1918)"),
        (f"tcp://127.0.0.2:{first.port}", "127.0.0.2 is a Spectrum edge IP"),
    ):
        ret, config_state, service_state, reload_state = _apply(edge, origin)
        assert ret.returncode != 0
        assert config_state["result"] is False
        assert config_state["changes"] == {}
        assert f"e2e-echo: {origin} denied: {reason}" in config_state["comment"]
        assert service_state["result"] is False, service_state["comment"]
        assert "One or more requisite failed" in service_state["comment"]
        assert service_state["changes"] == {}
        assert reload_state["changes"] == {}, reload_state["comment"]
        assert "none of the onchanges reqs changed" in reload_state["comment"]
        assert _digest(edge["config"]) == in_service
        assert _digest(edge["guarded"]) == guarded
        assert _reloads(edge) == 1
        assert master.is_running()
        assert _through(edge["port"], payload) == payload  # still the old config, still the first echo server

    # 4. An allowed change does reload: new connections reach the second echo server.
    ret, config_state, service_state, reload_state = _apply(edge, f"tcp://127.0.0.1:{second.port}")
    assert ret.returncode == 0, ret.stdout
    assert service_state["changes"]
    assert _reloads(edge) == 2
    _wait_for(lambda: _through(edge["port"], b"ping") == b"B:ping", "HAProxy to reload onto the second echo server")
    assert _through(edge["port"], payload) == b"B:" + payload
    assert master.is_running()  # the same master, reloaded in place


@needs_haproxy
def test_a_config_haproxy_rejects_never_goes_in_service(salt_factories, tmp_path, echoes):
    """The second gate of edge/haproxy.sls: what the guard passed must also pass ``haproxy -c``."""
    edge = _edge(salt_factories, tmp_path, timeout_idle="soon")  # trusted config, but not a time HAProxy knows
    ret, config_state, service_state, reload_state = _apply(edge, f"tcp://127.0.0.1:{echoes[0].port}")
    assert ret.returncode != 0
    assert config_state["result"] is True  # every origin passed the guard
    assert "timeout server soon" in edge["guarded"].read_text()
    assert service_state["result"] is False
    assert "check_cmd execution failed" in service_state["comment"]
    assert not edge["config"].exists()
    assert reload_state["changes"] == {}
    assert _reloads(edge) == 0


@needs_nginx
def test_the_nginx_state_checks_puts_in_service_and_traffic_flows(salt_factories, tmp_path, echoes, daemons):
    """``edge/nginx.sls`` the same way: ``nginx -t`` accepts the guarded file, and bytes come back through nginx."""
    first, _ = echoes
    edge = _edge(salt_factories, tmp_path, proxy="nginx")
    ret, config_state, service_state, _ = _apply(edge, f"tcp://127.0.0.1:{first.port}")
    assert ret.returncode == 0, ret.stdout
    assert config_state["result"] is True
    assert service_state["result"] is True
    assert edge["config"].read_bytes() == edge["guarded"].read_bytes()
    assert f"listen 127.0.0.1:{edge['port']};" in edge["config"].read_text()
    assert _reloads(edge) == 1
    daemons([NGINX, "-c", str(edge["config"]), "-e", str(edge["error_log"])], edge["pidfile"])
    _wait_for(lambda: _through(edge["port"], b"ping") == b"ping", "nginx to forward to the echo server")
    payload = os.urandom(200_000)
    assert _through(edge["port"], payload) == payload

    in_service = _digest(edge["config"])
    ret, config_state, service_state, reload_state = _apply(edge, f"tcp://10.0.0.1:{first.port}")
    assert ret.returncode != 0
    assert config_state["result"] is False
    assert service_state["result"] is False
    assert reload_state["changes"] == {}
    assert _digest(edge["config"]) == in_service
    assert _reloads(edge) == 1
    assert _through(edge["port"], payload) == payload
