"""Unit tests of the runtime's pod address allocator (no namespaces touched)."""

import unittest

from runtime import Network


class Allocation(unittest.TestCase):
    def test_a_released_address_is_not_handed_out_again_at_once(self):
        net = Network("10.245.0.0/16")
        first = net.allocate()
        net.release(first)
        self.assertNotEqual(net.allocate(), first)

    def test_addresses_skip_network_broadcast_and_gateway_octets(self):
        net = Network("10.245.0.0/23")
        got = [net.allocate() for _ in range(300)]
        self.assertEqual(len(set(got)), 300)
        for ip in got:
            self.assertNotIn(int(ip.rsplit(".", 1)[1]), (0, 1, 255))

    def test_a_pod_made_again_keeps_its_address_when_it_is_free(self):
        net = Network("10.245.0.0/16")
        ip = net.allocate()
        net.allocate()
        net.release(ip)
        self.assertEqual(net.allocate(ip), ip)

    def test_a_wanted_address_in_use_gives_another(self):
        net = Network("10.245.0.0/16")
        ip = net.allocate()
        self.assertNotEqual(net.allocate(ip), ip)

    def test_the_range_wraps_around_and_reports_exhaustion(self):
        net = Network("10.245.0.0/29")  # .2 .. .6 assignable
        got = [net.allocate() for _ in range(5)]
        self.assertEqual(got, [f"10.245.0.{i}" for i in range(2, 7)])
        with self.assertRaises(RuntimeError):
            net.allocate()
        net.release("10.245.0.4")
        self.assertEqual(net.allocate(), "10.245.0.4")


if __name__ == "__main__":
    unittest.main()
