"""PyPI's toxiproxy-python (0.1.1) against `tcpmortem proxy`: the calls its own test suite
makes (create, list, disable/enable, toxics, reset, populate, version, errors), plus data
through a toxic. Run by crates/cli/tests/proxy_clients.rs with TCPMORTEM_API=HOST:PORT."""

import os
import socket
import socketserver
import threading
import time
import unittest

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import validate_response
from toxiproxy.exceptions import NotFound, ProxyExists, InvalidToxic
from toxiproxy.utils import can_connect_to

HOST, PORT = os.environ["TCPMORTEM_API"].rsplit(":", 1)
toxiproxy = Toxiproxy()
toxiproxy.update_api_consumer(HOST, int(PORT))
BASE = "http://%s:%s" % (HOST, PORT)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            self.request.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class ToxiproxyPython(unittest.TestCase):
    def tearDown(self):
        toxiproxy.destroy_all()

    def test_create_disabled_with_listen(self):
        port = free_port()
        proxy = toxiproxy.create(upstream="localhost:3306", name="test_mysql_master",
                                 enabled=False, listen="127.0.0.1:%d" % port)
        self.assertEqual(proxy.upstream, "localhost:3306")
        self.assertEqual(proxy.name, "test_mysql_master")
        self.assertIs(proxy.enabled, False)
        self.assertEqual(proxy.listen, "127.0.0.1:%d" % port)
        self.assertFalse(can_connect_to("127.0.0.1", port))

    def test_create_find_and_destroy(self):
        toxiproxy.create(upstream="localhost:3306", name="test_mysql_master")
        proxy = toxiproxy.get_proxy("test_mysql_master")
        self.assertEqual(proxy.upstream, "localhost:3306")
        self.assertTrue(proxy.listen.startswith("127.0.0.1:"))
        self.assertTrue(toxiproxy.destroy(proxy))
        self.assertIsNone(toxiproxy.get_proxy("test_mysql_master"))
        self.assertIsNone(toxiproxy.get_proxy("invalid_proxy"))
        self.assertFalse(toxiproxy.destroy("invalid_proxy"))

    def test_same_name_is_refused(self):
        toxiproxy.create(upstream="localhost:3306", name="twice")
        with self.assertRaises(ProxyExists):
            toxiproxy.create(upstream="localhost:3306", name="twice")
        # Without the client's own check: the server's 409.
        with self.assertRaises(ProxyExists) as ctx:
            validate_response(requests.post(BASE + "/proxies",
                                            json={"upstream": "localhost:3306", "name": "twice"}))
        self.assertIn(b"proxy already exists", ctx.exception.args[0])

    def test_not_found(self):
        with self.assertRaises(NotFound) as ctx:
            validate_response(requests.get(BASE + "/not_found"))
        self.assertEqual(ctx.exception.args[0], b"404 page not found\n")

    def test_disable_enable_keeps_listen_and_toxics(self):
        with Server(("127.0.0.1", 0), Echo) as server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            port = server.server_address[1]
            proxy = toxiproxy.create(upstream="localhost:%s" % port, name="echo")
            host, pport = proxy.listen.split(":")
            proxy.add_toxic(type="latency", attributes={"latency": 123})
            proxy.disable()
            self.assertIs(proxy.enabled, False)
            self.assertFalse(can_connect_to(host, int(pport)))
            proxy.enable()
            self.assertTrue(can_connect_to(host, int(pport)))
            latency = proxy.get_toxic("latency_downstream")
            self.assertEqual(latency.attributes["latency"], 123)
            self.assertEqual(latency.stream, "downstream")
            self.assertEqual(toxiproxy.get_proxy("echo").listen, proxy.listen)
            # The toxic acts on data: the echo comes back at least 123 ms later.
            with socket.create_connection((host, int(pport))) as c:
                t = time.monotonic()
                c.sendall(b"ping")
                self.assertEqual(c.recv(10), b"ping")
                self.assertGreaterEqual(time.monotonic() - t, 0.120)
            proxy.destroy_toxic("latency_downstream")
            self.assertEqual(proxy.toxics(), {})
            server.shutdown()

    def test_every_toxiproxy_toxic_and_a_bad_one(self):
        proxy = toxiproxy.create(upstream="localhost:3306", name="toxics")
        toxics = {
            "latency": {"latency": 1000, "jitter": 100},
            "bandwidth": {"rate": 1000},
            "slow_close": {"delay": 1000},
            "timeout": {"timeout": 5000},
            "reset_peer": {"timeout": 1000},
            "slicer": {"average_size": 1000, "size_variation": 100, "delay": 1000},
            "limit_data": {"bytes": 42},
        }
        for t, attrs in toxics.items():
            proxy.add_toxic(type=t, stream="upstream", attributes=attrs)
            got = proxy.get_toxic("%s_upstream" % t)
            self.assertEqual(got.attributes, attrs)
            self.assertEqual(got.toxicity, 1.0)
        self.assertEqual(len(proxy.toxics()), 7)
        with self.assertRaises(InvalidToxic):
            proxy.add_toxic(type="no_such_toxic")
        with self.assertRaises(InvalidToxic):
            proxy.add_toxic(type="latency", stream="sideways")
        with self.assertRaises(ProxyExists):
            proxy.add_toxic(type="latency", stream="upstream")

    def test_reset(self):
        proxy = toxiproxy.create(upstream="localhost:3306", name="reset_me")
        host, port = proxy.listen.split(":")
        proxy.disable()
        proxy.add_toxic(type="latency", attributes={"latency": 123})
        self.assertTrue(toxiproxy.reset())
        self.assertTrue(can_connect_to(host, int(port)))
        self.assertEqual(proxy.toxics(), {})
        self.assertIs(toxiproxy.get_proxy("reset_me").enabled, True)

    def test_populate_and_update_listen(self):
        p1, p2 = free_port(), free_port()
        proxies = toxiproxy.populate([
            {"name": "populate1", "upstream": "localhost:3306", "listen": "localhost:%d" % p1},
            {"name": "populate2", "upstream": "localhost:3306", "listen": "localhost:%d" % p2},
        ])
        self.assertEqual(len(proxies), 2)
        for proxy in proxies:
            host, port = proxy.listen.split(":")
            self.assertTrue(can_connect_to(host, int(port)))
        p3 = free_port()
        proxies = toxiproxy.populate([
            {"name": "populate1", "upstream": "localhost:3306", "listen": "localhost:%d" % p3},
        ])
        self.assertEqual(proxies[0].listen, "127.0.0.1:%d" % p3)
        self.assertTrue(can_connect_to("127.0.0.1", p3))
        self.assertFalse(can_connect_to("127.0.0.1", p1))

    def test_version_and_running(self):
        self.assertTrue(toxiproxy.running())
        v = toxiproxy.version()
        self.assertIsInstance(v, bytes)
        self.assertIn(b'"version"', v)
        toxiproxy.update_api_consumer("127.0.0.1", free_port())
        try:
            self.assertFalse(toxiproxy.running())
            self.assertIsNone(toxiproxy.version())
        finally:
            toxiproxy.update_api_consumer(HOST, int(PORT))


if __name__ == "__main__":
    unittest.main(verbosity=2)
