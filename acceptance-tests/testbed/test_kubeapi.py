"""Unit tests of kubeapi.py: a watched collection follows its events, and a kept-alive
connection the server closed is replaced once (no cluster: fake connections)."""

import http.client
import json
import unittest

import kubeapi


def obj(uid, name, version, ns="n", **extra):
    return {"metadata": {"uid": uid, "name": name, "namespace": ns, "resourceVersion": version}, **extra}


class Response:
    def __init__(self, status, body=b"", lines=()):
        self.status = status
        self.body = body
        self.lines = [json.dumps(e).encode() + b"\n" for e in lines]

    def read(self):
        return self.body

    def __iter__(self):
        return iter(self.lines)


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
        self.watched = {}
        self.local = type("Local", (), {})()
        self.log = lambda _: None

    def connection(self, timeout=kubeapi.REQUEST_TIMEOUT):
        self.opened += 1
        return Connection(self.responses, self.sent)


class AWatchedCollection(unittest.TestCase):
    def test_is_listed_then_follows_added_modified_and_deleted_objects(self):
        listing = {"metadata": {"resourceVersion": "10"},
                   "items": [obj("a", "web-1", "9"), obj("b", "web-0", "8")]}
        events = [
            {"type": "ADDED", "object": obj("c", "db-0", "11")},
            {"type": "MODIFIED", "object": obj("a", "web-1", "12", status={"phase": "Running"})},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "13"}}},
            {"type": "DELETED", "object": obj("b", "web-0", "14")},
        ]
        api = FakeApi([Response(200, json.dumps(listing).encode()), Response(200, lines=events)])
        c = kubeapi.Collection(api, "/api/v1/pods")
        version = c.relist()
        self.assertEqual(version, "10")
        self.assertEqual([o["metadata"]["name"] for o in c.items()], ["web-0", "web-1"])
        # The server ends the watch: the next one starts from the last version seen.
        self.assertEqual(c.follow(version), "14")
        self.assertIn("resourceVersion=10", api.sent[1][1])
        self.assertEqual([o["metadata"]["name"] for o in c.items()], ["db-0", "web-1"])
        self.assertEqual(c.items()[1]["status"], {"phase": "Running"})

    def test_is_listed_again_when_its_version_expired(self):
        gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410}}
        api = FakeApi([Response(200, lines=[gone])])
        c = kubeapi.Collection(api, "/api/v1/pods")
        self.assertIsNone(c.follow("5"))

    def test_serves_the_gets_of_its_path_once_listed(self):
        listing = {"metadata": {"resourceVersion": "3"}, "items": [obj("a", "x", "3")]}
        api = FakeApi([Response(200, json.dumps(listing).encode())])
        c = api.watched["/api/v1/pods"] = kubeapi.Collection(api, "/api/v1/pods")
        c.relist()
        self.assertEqual(api.get("/api/v1/pods")["items"][0]["metadata"]["name"], "x")
        self.assertEqual(len(api.sent), 1)


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
