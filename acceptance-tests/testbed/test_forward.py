"""Unit tests of the port-forward relay's connect-only mode (forward.c --check), the
bed's tcpSocket probe: built with cc as the runtime builds it, run in this process's
own network namespace."""

import os
import socket
import subprocess
import tempfile
import unittest

from runtime import forward_relay, is_ipv4


class RelayCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory()
        cls.relay = forward_relay(cls.folder.name)
        if cls.relay is None:
            raise unittest.SkipTest("no C compiler: the runtime probes with bash instead")

    @classmethod
    def tearDownClass(cls):
        cls.folder.cleanup()

    def check(self, port, address="127.0.0.1"):
        return subprocess.run([self.relay, "--check", "/proc/self/ns/net", str(port), address],
                              capture_output=True, text=True, timeout=10)

    def test_a_listening_port_passes_and_a_closed_one_fails_saying_why(self):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            self.assertEqual(self.check(port).returncode, 0)
        refused = self.check(port)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("connect", refused.stderr)

    def test_a_name_or_a_bad_port_is_a_usage_error_not_a_pass(self):
        self.assertEqual(self.check(6379, "redis.example").returncode, 2)
        self.assertEqual(self.check(0).returncode, 2)

    def test_only_dotted_ipv4_addresses_are_given_to_the_relay(self):
        self.assertTrue(is_ipv4("10.245.0.7"))
        self.assertFalse(is_ipv4("redis.example"))
        self.assertFalse(is_ipv4("::1"))


if __name__ == "__main__":
    unittest.main()
