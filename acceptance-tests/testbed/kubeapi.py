"""The test bed's client for the API server: one kept-alive TLS connection per thread
(a TLS handshake per request, several times a tick, cost the API server and the
runtime a share of a core).

Only the bed's own processes (runtime.py and its companions) use it. The runtime still
lists what it needs every tick: serving those lists from watches made the runtime
react late to pod restarts (a rolling restart's writers saw a 10 s gap instead of 7).
"""

import http.client
import json
import ssl
import threading
import urllib.parse

REQUEST_TIMEOUT = 15


class Api:
    """Requests authenticated with a client certificate, on a connection kept alive per
    thread."""

    def __init__(self, server, ca, cert, key):
        url = urllib.parse.urlsplit(server)
        self.host, self.port = url.hostname, url.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        self.local = threading.local()

    def connection(self, timeout=REQUEST_TIMEOUT):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json", ok404=False):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        status, payload = self.exchange(method, path, data, headers)
        if status == 404 and ok404:
            return None
        if status >= 400:
            detail = payload.decode(errors="replace")[:500]
            raise RuntimeError(f"{method} {path}: {status} {detail}")
        return json.loads(payload or b"null")

    def exchange(self, method, path, data, headers):
        """One request on this thread's connection. A connection the server closed while
        idle is found only on reuse: then the request is sent once more on a new one."""
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self.local.conn = self.connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.drop()
                if not reused or attempt == 2:
                    raise
            except Exception:
                self.drop()
                raise
        raise AssertionError("unreachable")

    def drop(self):
        conn = getattr(self.local, "conn", None)
        self.local.conn = None
        if conn is not None:
            conn.close()

    def get(self, path, ok404=False):
        return self.request("GET", path, ok404=ok404)

    def apply(self, path, obj):
        q = "?fieldManager=redis-testbed-runtime&force=true"
        return self.request("PATCH", path + q, obj, "application/apply-patch+yaml")

    def patch_status(self, ns, name, status):
        return self.request(
            "PATCH",
            f"/api/v1/namespaces/{ns}/pods/{name}/status",
            {"status": status},
            "application/merge-patch+json",
            ok404=True,
        )
