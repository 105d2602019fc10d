"""The test bed's client for the API server: one kept-alive TLS connection per thread
(a handshake per request cost the API server and the runtime a share of a core), and
the collections the runtime lists every tick kept by a watch each, as a kubelet's
informers do (a full list of every pod twice a second was most of the rest).

Only the bed's own processes (runtime.py and its companions) use it.
"""

import http.client
import json
import ssl
import threading
import time
import urllib.parse

# A watch is ended by the API server after this long and started again from the last
# version seen; a socket quiet for longer than the margin after it is taken as dead.
WATCH_SECONDS = 300
WATCH_MARGIN = 30
REQUEST_TIMEOUT = 15
# How long a read of a watched collection waits for its first listing before it asks
# the API server itself.
FIRST_LIST_WAIT = 5.0


class Api:
    """Requests authenticated with a client certificate; `watch` turns a collection's
    GET into a read of a local copy kept current by a watch."""

    def __init__(self, server, ca, cert, key, log=print):
        url = urllib.parse.urlsplit(server)
        self.host, self.port = url.hostname, url.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        self.log = log
        self.local = threading.local()
        self.watched = {}  # collection path -> Collection

    def connection(self, timeout=REQUEST_TIMEOUT):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json", ok404=False):
        if method == "GET" and path in self.watched:
            items = self.watched[path].items()
            if items is not None:
                return {"items": items}
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

    def watch(self, *paths):
        """Serves GETs of these collection paths from copies kept by watches."""
        for path in paths:
            if path not in self.watched:
                c = self.watched[path] = Collection(self, path)
                threading.Thread(target=c.run, name=f"watch {path}", daemon=True).start()


class Collection:
    """One collection's objects, by uid: listed, then followed by a watch from the
    listing's version; listed again whenever the watch breaks or expires (410)."""

    def __init__(self, api, path):
        self.api = api
        self.path = path
        self.lock = threading.Lock()
        self.objects = {}
        self.synced = threading.Event()

    def items(self):
        """The objects as a listing orders them (namespace, name); None before the first
        listing (after a short wait)."""
        if not self.synced.wait(FIRST_LIST_WAIT):
            return None
        with self.lock:
            objs = list(self.objects.values())
        return sorted(objs, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def run(self):
        failing = False
        while True:
            try:
                version = self.relist()
                while version is not None:
                    version = self.follow(version)
                failing = False
            except Exception as e:  # the API server restarting or stopped: list again
                if not failing:
                    self.api.log(f"watch of {self.path} broke ({type(e).__name__}: {e}); listing again")
                failing = True
                time.sleep(1.0)

    def relist(self):
        conn = self.api.connection()
        try:
            conn.request("GET", self.path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"GET {self.path}: {resp.status} {payload[:300]!r}")
        listing = json.loads(payload)
        with self.lock:
            self.objects = {o["metadata"]["uid"]: o for o in listing.get("items") or []}
        self.synced.set()
        return listing["metadata"]["resourceVersion"]

    def follow(self, version):
        """Applies the watch's events from `version`; returns the version to follow on
        from when the server ended the watch, or None to list again."""
        q = urllib.parse.urlencode({"watch": "1", "resourceVersion": version,
                                    "allowWatchBookmarks": "true", "timeoutSeconds": WATCH_SECONDS})
        conn = self.api.connection(timeout=WATCH_SECONDS + WATCH_MARGIN)
        try:
            conn.request("GET", f"{self.path}?{q}", headers={"Accept": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                return None
            for line in resp:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":  # 410 Gone: the version is too old to follow
                    return None
                meta = obj.get("metadata") or {}
                version = meta.get("resourceVersion", version)
                if kind == "BOOKMARK":
                    continue
                with self.lock:
                    if kind == "DELETED":
                        self.objects.pop(meta.get("uid"), None)
                    else:
                        self.objects[meta["uid"]] = obj
            return version
        finally:
            conn.close()
