"""The object store as pods see it: an address on the pods' bridge that leads to the
store on the host's loopback.

The store (SeaweedFS's S3 gateway, started by `testbed up`) listens on 127.0.0.1 only,
which the pods' network namespaces cannot reach. The runtime gives the bridge in the
test bed's namespace the first address of the pod range (never handed to a pod) and
runs socat there; each connection is carried by a socat started in the runtime's own
network namespace to the store. Nothing is opened on the host beyond the store's own
loopback port.
"""

import ipaddress
import os
import subprocess


class Gateway:
    def __init__(self, bridge_ns, bridge, cidr, target, state, log):
        net = ipaddress.ip_network(cidr)
        self.address = str(next(net.hosts()))
        self.prefix = net.prefixlen
        self.bridge_ns = bridge_ns
        self.bridge = bridge
        host, port = target.rsplit(":", 1)
        self.target_host, self.port = host, int(port)
        self.log = log
        self.proc = None
        # socat's address syntax has no room for a nested address: the relay is a script.
        self.relay = os.path.join(state, "object-store-relay")

    def endpoint(self):
        return f"http://{self.address}:{self.port}"

    def ensure(self):
        """Keeps the address on the bridge and the relay running (after a restart of
        either, the next tick brings them back)."""
        ns = ["ip", "netns", "exec", self.bridge_ns]
        shown = subprocess.run(ns + ["ip", "-o", "addr", "show", "dev", self.bridge],
                               capture_output=True, text=True)
        if f" {self.address}/" not in shown.stdout:
            subprocess.run(ns + ["ip", "addr", "add", f"{self.address}/{self.prefix}", "dev", self.bridge],
                           capture_output=True, check=True)
        if self.proc is not None and self.proc.poll() is None:
            return
        with open(self.relay, "w") as f:
            f.write(f"#!/bin/sh\nexec nsenter --net=/proc/{os.getpid()}/ns/net "
                    f"socat STDIO TCP:{self.target_host}:{self.port}\n")
        os.chmod(self.relay, 0o755)
        self.proc = subprocess.Popen(
            ns + ["socat", f"TCP-LISTEN:{self.port},bind={self.address},reuseaddr,fork",
                  f"SYSTEM:{self.relay}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.log(f"object store reachable from pods at {self.endpoint()} "
                 f"(relayed to {self.target_host}:{self.port})")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
