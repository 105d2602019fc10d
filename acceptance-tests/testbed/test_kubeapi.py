"""Unit tests of kubeapi.py: a kept-alive connection is reused, and one the server
closed is replaced once (no cluster: fake connections)."""

import http.client
import unittest

import kubeapi


class Response:
    def __init__(self, status, body=b""):
        self.status = status
        self.body = body

    def read(self):
        return self.body


class Connection:
    """Answers each request with the next response it was given; records the paths."""

    def __init__(self, responses, log):
        self.responses = responses
        self.log = log

    def request(self, method, path, body=None, headers=None):
        self.log.append((method, path))
        self.pending = self.responses.pop(0)
        if isinstance(self.pending, Exception):
            raise self.pending

    def getresponse(self):
        return self.pending

    def close(self):
        pass


class FakeApi(kubeapi.Api):
    def __init__(self, responses):
        self.responses = responses
        self.sent = []
        self.opened = 0
        self.local = type("Local", (), {})()

    def connection(self, timeout=kubeapi.REQUEST_TIMEOUT):
        self.opened += 1
        return Connection(self.responses, self.sent)


class AKeptAliveConnection(unittest.TestCase):
    def test_is_reused_across_requests(self):
        api = FakeApi([Response(200, b'{"a": 1}'), Response(200, b'{"b": 2}')])
        self.assertEqual(api.get("/x"), {"a": 1})
        self.assertEqual(api.get("/y"), {"b": 2})
        self.assertEqual(api.opened, 1)

    def test_closed_by_the_server_is_replaced_and_the_request_sent_again(self):
        api = FakeApi([Response(200, b"{}"), http.client.RemoteDisconnected("closed"),
                       Response(200, b'{"ok": true}')])
        api.get("/x")
        self.assertEqual(api.get("/y"), {"ok": True})
        self.assertEqual(api.opened, 2)
        self.assertEqual(api.sent[1:], [("GET", "/y"), ("GET", "/y")])

    def test_that_fails_when_new_is_an_error(self):
        api = FakeApi([ConnectionResetError("refused")])
        with self.assertRaises(ConnectionResetError):
            api.get("/x")

    def test_reports_the_status_and_body_of_a_refusal(self):
        api = FakeApi([Response(403, b"forbidden: pods"), Response(404, b"")])
        with self.assertRaisesRegex(RuntimeError, "403 forbidden: pods"):
            api.get("/api/v1/pods")
        self.assertIsNone(api.get("/api/v1/pods/x", ok404=True))


if __name__ == "__main__":
    unittest.main()
