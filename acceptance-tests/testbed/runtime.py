#!/usr/bin/env python3
"""The test bed's pod runtime: real processes behind kwok's simulated pods.

It lists the pods bound to the simulated nodes and, for every container whose image
it knows (redis, valkey/valkey, oliver006/redis_exporter, busybox, alpine), runs the
container's own command with the binaries of the version its tag names (images.py:
the version table; a tag it cannot honour waits as an unpullable image), inside a network namespace of the pod's own (its own
address on a bridge that lives in a namespace of the test bed's, never on the host),
a mount namespace (an overlay of the host's root with the pod's volumes mounted at
their container paths) and a UTS namespace (the pod's hostname). It reports the real
state back into the pod's status: containers, restarts, probes, phase, readiness.

Containers it does not know are reported running, as kwok would; pods with no
known container are left to kwok entirely. See acceptance-tests/README.md.
"""

import argparse
import base64
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

# The runtime's companions, beside this file: NetworkPolicy, volume expansion, lost nodes.
import faults
import netpol
import resizer
# The API server's client: a kept-alive connection per thread.
from kubeapi import Api

# Which binaries run behind which image tag: the version table.
import images
# The S3 store (on the host's loopback) as pods reach it.
import objectstore

# The repositories the runtime handles; kwok-stages.yaml has the same pattern, so kwok
# leaves these pods alone. Which tags it honours is images.py's table.
KNOWN_IMAGE = re.compile(
    r"^(docker\.io/)?(library/)?(redis|valkey/valkey|oliver006/redis_exporter|busybox|alpine)(:[^@]*)?(@.*)?$"
)
FORWARDED_PORTS = {6379, 26379, 16379}
# Image pulls the bed refuses: ErrImagePull for a few seconds, then ImagePullBackOff
# for a doubling back-off (a kubelet's is 10 s up to 5 min; shorter here for tests).
PULL_ERROR_SECONDS = 3.0
PULL_BACKOFF_START = 5.0
PULL_BACKOFF_MAX = 60.0
BRIDGE_NS = "tb-net"
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
BRIDGE = "tbbr0"
BACKOFF_START = 2.0
FORWARD_CHECK_SECONDS = 10.0
BACKOFF_MAX = 60.0


def log(msg):
    sys.stderr.write(f"{datetime.now(timezone.utc).strftime('%H:%M:%S.%f')[:-3]} {msg}\n")
    sys.stderr.flush()


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def known_image(image):
    return bool(KNOWN_IMAGE.match(image or ""))


def in_netns(netns, *cmd):
    """`cmd` in the named network namespace. nsenter, not `ip netns exec`: that also
    remounts /sys and binds /etc/netns files, which probes and port-forwards do not need
    and which cost a process a few milliseconds more (paid per probe and per stream)."""
    return [NSENTER, f"--net=/run/netns/{netns}"] + list(cmd)


def owner_uids(obj):
    """The uids of an API object's owners."""
    return {r.get("uid") for r in obj.get("metadata", {}).get("ownerReferences") or []}


def is_ipv4(text):
    """Whether `text` is a dotted IPv4 address (what the relay's --check dials)."""
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def forward_relay(folder):
    """The port-forward relay built from forward.c into `folder` (once per version of
    the source); None, and socat instead, when it cannot be built."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forward.c")
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    path = os.path.join(folder, f"testbed-forward-{digest}")
    if os.access(path, os.X_OK):
        return path
    os.makedirs(folder, exist_ok=True)
    r = subprocess.run(["cc", "-O2", "-Wall", "-o", path + ".tmp", source], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"port-forward relay not built, socat instead: {r.stderr.strip()[:300]}")
        return None
    os.replace(path + ".tmp", path)
    return path


def run(*cmd, check=True, quiet=False):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    if not quiet and r.returncode != 0:
        log(f"warning: {' '.join(cmd)}: {r.stderr.strip()}")
    return r


# ---------------------------------------------------------------------------
# networking


class Network:
    """A bridge inside the test bed's own network namespace; one veth per pod.

    Addresses are handed out round-robin, not lowest-free-first: a pod deleted and
    made again at once (a rolling restart, a StatefulSet's same-named replacement)
    gets a fresh address, as with a real CNI's allocator, instead of the one its
    predecessor left a second ago. With the address reused, every peer that talked to
    the old pod kept the old interface's MAC in its neighbour cache and sent into the
    void until that entry went stale (up to about 45 s): writers stalled and replicas
    lost their primary for longer than the roll itself. Each pod's interface also
    announces itself (arp_notify) when it comes up.
    """

    def __init__(self, cidr):
        self.net = ipaddress.ip_network(cidr)
        self.used = set()
        self.last = int(self.net.network_address)

    def setup(self):
        if run("ip", "netns", "exec", BRIDGE_NS, "true", check=False, quiet=True).returncode != 0:
            run("ip", "netns", "add", BRIDGE_NS)
        ns = ("ip", "netns", "exec", BRIDGE_NS)
        run(*ns, "ip", "link", "set", "lo", "up")
        if run(*ns, "ip", "link", "show", BRIDGE, check=False, quiet=True).returncode != 0:
            run(*ns, "ip", "link", "add", BRIDGE, "type", "bridge")
        run(*ns, "ip", "link", "set", BRIDGE, "up")

    def assignable(self, ip):
        """In the range, and neither a network, broadcast nor gateway-like (.1) address."""
        return ip in self.net and int(ip) & 0xFF not in (0, 255, 1) \
            and ip not in (self.net.network_address, self.net.broadcast_address)

    def allocate(self, wanted=None):
        """`wanted` when it is free (a pod made again keeps its address), else the next
        free address after the last one handed out."""
        if wanted:
            try:
                ip = ipaddress.ip_address(wanted)
                if ip not in self.used and self.assignable(ip):
                    self.used.add(ip)
                    return str(ip)
            except ValueError:
                pass
        first, size = int(self.net.network_address), self.net.num_addresses
        for step in range(1, size + 1):
            ip = ipaddress.ip_address(first + (self.last - first + step) % size)
            if ip not in self.used and self.assignable(ip):
                self.used.add(ip)
                self.last = int(ip)
                return str(ip)
        raise RuntimeError("pod address range exhausted")

    def release(self, ip):
        if ip:
            self.used.discard(ipaddress.ip_address(ip))

    def attach(self, netns, ip, tag):
        host_end, pod_end = f"vh{tag}", f"vp{tag}"
        # A pair left over from an earlier attach of the same pod: a namespace that
        # outlived `ip netns del` (a process still in it) keeps its veth alive, and a
        # failed attach leaves the pair in the root namespace. Deleting either end
        # deletes the pair.
        run("ip", "link", "del", host_end, check=False, quiet=True)
        run("ip", "netns", "exec", BRIDGE_NS, "ip", "link", "del", host_end, check=False, quiet=True)
        run("ip", "netns", "add", netns)
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", pod_end)
        run("ip", "link", "set", host_end, "netns", BRIDGE_NS)
        run("ip", "link", "set", pod_end, "netns", netns)
        ns = ("ip", "netns", "exec", BRIDGE_NS)
        run(*ns, "ip", "link", "set", host_end, "master", BRIDGE)
        run(*ns, "ip", "link", "set", host_end, "up")
        pns = ("ip", "netns", "exec", netns)
        run(*pns, "ip", "link", "set", "lo", "up")
        run(*pns, "ip", "link", "set", pod_end, "name", "eth0")
        run(*pns, "sysctl", "-qw", "net.ipv4.conf.eth0.arp_notify=1", check=False)
        run(*pns, "ip", "addr", "add", f"{ip}/{self.net.prefixlen}", "dev", "eth0")
        run(*pns, "ip", "link", "set", "eth0", "up")

    @staticmethod
    def detach(netns):
        run("ip", "netns", "del", netns, check=False, quiet=True)


# ---------------------------------------------------------------------------
# volumes


def write_files(folder, files, default_mode=0o644):
    """files: {relative path: bytes}. Rewrites only what changed."""
    os.makedirs(folder, exist_ok=True)
    for rel, content in files.items():
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path, "rb") as f:
                if f.read() == content:
                    continue
        except FileNotFoundError:
            pass
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, default_mode)


def key_files(data, binary, items):
    """ConfigMap/Secret keys -> files, honouring `items` (key -> path)."""
    values = {k: v.encode() for k, v in (data or {}).items()}
    values.update({k: base64.b64decode(v) for k, v in (binary or {}).items()})
    if items:
        return {it["path"]: values[it["key"]] for it in items if it["key"] in values}
    return values


class MissingDependency(Exception):
    """A ConfigMap, Secret or claim the pod needs does not exist (yet)."""


# ---------------------------------------------------------------------------
# containers


class Container:
    def __init__(self, pod, spec, init=False):
        self.pod = pod
        self.spec = spec
        self.name = spec["name"]
        self.init = init
        # What runs behind the image (images.py); None: a repository the bed does not run.
        self.image = pod.rt.images.resolve(spec.get("image"))
        self.known = self.image is not None
        self.refused = self.known and self.image.kind == "refused"
        self.pull_next = None
        self.pull_error_until = 0.0
        self.pull_backoff = 0.0
        self.proc = None
        self.log_file = None
        self.message_file = None
        self.restart_count = 0
        self.started_at = None
        self.finished = None  # (exit code, started, finished, reason, message)
        self.last_state = None
        self.next_start = 0.0
        self.backoff = 0.0
        self.ready = False
        self.probe_state = {}
        self.liveness_failed = False
        self.waiting_reason = "ContainerCreating"
        self.waiting_message = None

    # -- process -------------------------------------------------------------

    def command(self):
        image = self.spec.get("image", "")
        cmd = list(self.spec.get("command") or [])
        args = list(self.spec.get("args") or [])
        kind = self.image.kind if self.image else None
        if not cmd:
            if kind == "exporter":
                cmd = ["/redis_exporter"]  # the exporter image's entrypoint
            elif kind == "server":
                # The images' entrypoint runs redis-server (valkey-server) when the
                # first argument is an option or a config file, or when there is none.
                if not args or args[0].startswith("-") or args[0].endswith(".conf"):
                    args = [f"{self.image.server.program}-server"] + args
            elif not args:
                args = ["sh"]
        argv = cmd + args
        env = self.pod.env_for(self.spec)
        return [expand_vars(a, env) for a in argv], env

    def start(self):
        pod = self.pod
        argv, env = self.command()
        workdir = self.spec.get("workingDir") or (
            "/data" if self.image.kind == "server" else "/"
        )
        sc = {**(pod.spec.get("securityContext") or {}), **(self.spec.get("securityContext") or {})}
        uid, gid = sc.get("runAsUser"), sc.get("runAsGroup", sc.get("runAsUser"))
        root = os.path.join(pod.dir, "rootfs", self.name)
        upper = os.path.join(pod.dir, "overlay", self.name)
        for d in (root, upper + "/u", upper + "/w"):
            os.makedirs(d, exist_ok=True)
        mounts = pod.mounts_for(self.spec)
        script = ["set -e"]
        script.append(
            f"mount -t overlay overlay -o lowerdir=/,upperdir={q(upper)}/u,workdir={q(upper)}/w {q(root)}"
        )
        for sub in ("proc", "dev", "sys"):
            script.append(f"mount --rbind /{sub} {q(root)}/{sub}")
        script.append(f"mount -t tmpfs -o mode=1777 tmpfs {q(root)}/tmp")
        script.append(f"mount -t tmpfs -o mode=755 tmpfs {q(root)}/run")
        # Read-only: CONFIG REWRITE must not reach the shared image-defaults.conf (it
        # fails instead, as it does in the images when no config file was given).
        server = self.image.server if self.image.kind == "server" else None
        shims = pod.rt.shims[server.key if server else "redis-debian"]
        script.append(f"mkdir -p {q(root)}/opt/testbed-bin && mount --bind {q(shims)} {q(root)}/opt/testbed-bin"
                      f" && mount -o remount,bind,ro {q(root)}/opt/testbed-bin")
        # The server version the tag names, at /opt/testbed-server (on PATH before /usr/bin).
        if server and server.bindir:
            dst = q(root + images.SERVER_DIR)
            script.append(f"mkdir -p {dst} && mount --bind {q(server.bindir)} {dst}"
                          f" && mount -o remount,bind,ro {dst}")
        if self.image.kind == "exporter":
            dst = q(root + "/redis_exporter")
            script.append(f"touch {dst} && mount --bind {q(self.image.binary)} {dst}"
                          f" && mount -o remount,bind,ro {dst}")
        script.append(f"mount --bind {q(pod.hosts_file)} {q(root)}/etc/hosts")
        # The termination message file, as a kubelet gives it: a file of the container's
        # own at terminationMessagePath, writable on a read-only root; read on exit.
        self.message_file = os.path.join(pod.dir, f"{self.name}.termination-log")
        with open(self.message_file, "w"):
            pass
        os.chmod(self.message_file, 0o666)
        msg_path = root + (self.spec.get("terminationMessagePath") or "/dev/termination-log")
        script.append(f"mkdir -p {q(os.path.dirname(msg_path))} && {{ [ -e {q(msg_path)} ] || touch {q(msg_path)}; }}"
                      f" && mount --bind {q(self.message_file)} {q(msg_path)}")
        script.append(f"mount --bind {q(pod.resolv_file)} {q(root)}/etc/resolv.conf")
        for src, dst, ro, is_file in mounts:
            target = root + dst
            if is_file:
                script.append(f"mkdir -p {q(os.path.dirname(target))} && touch {q(target)}")
            else:
                script.append(f"mkdir -p {q(target)}")
            script.append(f"mount --bind {q(src)} {q(target)}")
            if ro:
                script.append(f"mount -o remount,bind,ro {q(target)}")
        script.append(f"mkdir -p {q(root + workdir)}")
        if uid is not None:
            script.append(f"chown {int(uid)}:{int(gid or 0)} {q(root + workdir)} || true")
        if sc.get("readOnlyRootFilesystem"):
            script.append(f"mount -o remount,ro {q(root)}")
        script.append(f"hostname {q(pod.hostname)}")
        priv = []
        pod_sc = pod.spec.get("securityContext") or {}
        groups = [str(g) for g in pod_sc.get("supplementalGroups") or []]
        fs_group = pod_sc.get("fsGroup")
        if uid is not None:
            if fs_group is not None:
                groups.append(str(fs_group))
            priv = ["setpriv", f"--reuid={int(uid)}", f"--regid={int(gid or 0)}"]
            priv += [f"--groups={','.join(groups)}"] if groups else ["--clear-groups"]
        if sc.get("allowPrivilegeEscalation") is False:
            priv = (priv or ["setpriv"]) + ["--no-new-privs"]
        drop = ((sc.get("capabilities") or {}).get("drop") or [])
        if "ALL" in drop and uid in (None, 0):
            priv = (priv or ["setpriv"]) + ["--bounding-set=-all", "--inh-caps=-all"]
        envs = [f"{k}={v}" for k, v in env.items()]
        inner = ["env", "-i"] + envs + ["sh", "-c", 'cd "$0" && exec "$@"', workdir] + argv
        script.append(
            "exec chroot " + q(root) + " " + " ".join(q(a) for a in (priv + inner))
        )
        self.log_file = open(os.path.join(pod.dir, f"{self.name}.log"), "ab")
        self.log_file.write(f"=== {now_rfc3339()} start: {shlex.join(argv)}\n".encode())
        self.log_file.flush()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", pod.netns, "unshare", "--mount", "--uts",
             "--propagation", "private", "sh", "-c", "\n".join(script)],
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started_at = now_rfc3339()
        self.finished = None
        self.ready = False
        self.probe_state = {}
        self.liveness_failed = False
        self.waiting_reason = None
        log(f"{pod.key}/{self.name}: started pid {self.proc.pid}: {shlex.join(argv)}")

    def step_pull(self, now):
        """An image the bed refuses, as a kubelet reports one it cannot pull: ErrImagePull
        after each attempt, ImagePullBackOff between attempts, never started."""
        if self.pull_next is None or now >= self.pull_next:
            # Each attempt looks again: a build may have finished meanwhile.
            self.image = self.pod.rt.images.resolve(self.spec.get("image"))
            if self.image.kind != "refused":
                self.refused = False
                self.waiting_reason, self.waiting_message = "ContainerCreating", None
                return
            self.pull_backoff = PULL_BACKOFF_START if not self.pull_backoff \
                else min(self.pull_backoff * 2, PULL_BACKOFF_MAX)
            self.pull_error_until = now + PULL_ERROR_SECONDS
            self.pull_next = self.pull_error_until + self.pull_backoff
            log(f"{self.pod.key}/{self.name}: {self.image.message}")
        if now < self.pull_error_until:
            self.waiting_reason = "ErrImagePull"
            self.waiting_message = self.image.message
        else:
            self.waiting_reason = "ImagePullBackOff"
            self.waiting_message = f'Back-off pulling image "{self.image.reference}": {self.image.message}'

    def poll(self):
        """Returns the exit code once the process has ended."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            return None
        if code < 0:
            code = 128 - code  # killed by a signal, as a container runtime reports it
        tail = self.log_tail()
        self.finished = {
            "exitCode": code,
            "startedAt": self.started_at,
            "finishedAt": now_rfc3339(),
            "reason": "Completed" if code == 0 else "Error",
            # The file's content when the container wrote one (at most 4 KiB, as a
            # kubelet reads it), else the log's tail.
            "message": self.termination_message() or tail,
            "containerID": f"testbed://{self.proc.pid}",
        }
        log(f"{self.pod.key}/{self.name}: exited with {code}")
        self.proc = None
        self.ready = False
        if self.log_file:
            self.log_file.close()
            self.log_file = None
        return code

    def termination_message(self):
        try:
            with open(self.message_file, "rb") as f:
                return f.read(4096).decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def log_tail(self, lines=5):
        """The last lines the container printed, as a kubelet's FallbackToLogsOnError."""
        try:
            with open(os.path.join(self.pod.dir, f"{self.name}.log"), "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4096))
                text = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join([l for l in text if not l.startswith("=== ")][-lines:])

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- probes --------------------------------------------------------------

    def probe_command(self, probe):
        """The probe's command line and, for an exec probe, the container's environment
        (given to nsenter, which passes it on: no `env -i` process per probe)."""
        pod = self.pod
        if "exec" in probe:
            cmd = probe["exec"].get("command") or []
            env = {k: str(v) for k, v in self.pod.env_for(self.spec).items()}
            return [NSENTER, "-t", str(self.proc.pid), "-m", "-u", "-n", "-r", "-w"] + cmd, env
        if "tcpSocket" in probe:
            port = self.resolve_port(probe["tcpSocket"].get("port"))
            host = probe["tcpSocket"].get("host") or pod.ip
            if pod.rt.relay and is_ipv4(host) and isinstance(port, int):
                # The relay's connect-only mode: one small process, not nsenter + bash.
                return [pod.rt.relay, "--check", f"/run/netns/{pod.netns}", str(port), host], None
            return in_netns(pod.netns, "bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"), None
        if "httpGet" in probe:
            h = probe["httpGet"]
            port = self.resolve_port(h.get("port"))
            url = f"{h.get('scheme', 'HTTP').lower()}://{h.get('host') or pod.ip}:{port}{h.get('path', '/')}"
            return in_netns(pod.netns, "curl", "-skf", "-o", "/dev/null", url), None
        return None, None

    def resolve_port(self, port):
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for p in self.spec.get("ports") or []:
            if p.get("name") == port:
                return p["containerPort"]
        return port

    def run_probes(self, now):
        """Advances readiness, liveness and startup probes; returns True to restart."""
        if not self.running():
            return False
        started = self.probe_state.get("started_mono")
        if started is None:
            started = self.probe_state["started_mono"] = now
        startup_ok = self.probe_state.get("startup_ok", "startupProbe" not in self.spec)
        kinds = ["startupProbe"] if not startup_ok else ["livenessProbe", "readinessProbe"]
        restart = False
        for kind in kinds:
            probe = self.spec.get(kind)
            st = self.probe_state.setdefault(kind, {"proc": None, "next": 0.0, "ok": 0, "fail": 0})
            if probe is None:
                if kind == "readinessProbe":
                    self.ready = True
                continue
            if now - started < probe.get("initialDelaySeconds", 0):
                continue
            if st["proc"] is not None:
                code = st["proc"].poll()
                timeout = probe.get("timeoutSeconds", 1)
                if code is None and now - st["began"] < max(timeout, 1) + 1:
                    continue
                if code is None:
                    st["proc"].kill()
                    st["proc"].wait()
                success = code == 0
                st["proc"] = None
                if success:
                    st["ok"] += 1
                    st["fail"] = 0
                else:
                    st["fail"] += 1
                    st["ok"] = 0
                if kind == "readinessProbe":
                    if success and st["ok"] >= probe.get("successThreshold", 1):
                        self.ready = True
                    elif not success and st["fail"] >= probe.get("failureThreshold", 3):
                        self.ready = False
                elif kind == "startupProbe":
                    if success:
                        self.probe_state["startup_ok"] = True
                    elif st["fail"] >= probe.get("failureThreshold", 3):
                        restart = True
                elif kind == "livenessProbe" and not success \
                        and st["fail"] >= probe.get("failureThreshold", 3):
                    log(f"{self.pod.key}/{self.name}: liveness probe failed {st['fail']} times")
                    self.liveness_failed = True
                    restart = True
            if st["proc"] is None and now >= st["next"]:
                cmd, env = self.probe_command(probe)
                if cmd:
                    st["proc"] = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL)
                    st["began"] = now
                st["next"] = now + probe.get("periodSeconds", 10)
        return restart

    def stop_probes(self):
        for st in self.probe_state.values():
            if isinstance(st, dict) and st.get("proc") is not None:
                st["proc"].kill()
                st["proc"].wait()
                st["proc"] = None

    # -- status --------------------------------------------------------------

    def status(self):
        s = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": self.image.image_id() if self.image else "",
            "restartCount": self.restart_count,
            "ready": False,
            "started": False,
        }
        if not self.known:
            s.update(ready=True, started=True,
                     state={"running": {"startedAt": self.pod.started_at}})
            return s
        if self.running():
            s.update(ready=self.ready, started=True,
                     state={"running": {"startedAt": self.started_at}},
                     containerID=f"testbed://{self.proc.pid}")
        elif self.finished and (self.waiting_reason is None):
            s["state"] = {"terminated": self.finished}
        else:
            waiting = {"reason": self.waiting_reason or "ContainerCreating"}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            s["state"] = {"waiting": waiting}
        if self.last_state:
            s["lastState"] = {"terminated": self.last_state}
        return s


def q(s):
    return shlex.quote(str(s))


def expand_vars(arg, env):
    """Kubernetes' $(VAR) expansion in command and args; $$ escapes."""
    def repl(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", repl, arg)


# ---------------------------------------------------------------------------
# pods


class Pod:
    def __init__(self, rt, obj):
        self.rt = rt
        self.obj = obj
        meta = obj["metadata"]
        self.uid = meta["uid"]
        self.ns = meta["namespace"]
        self.name = meta["name"]
        self.key = f"{self.ns}/{self.name}"
        self.spec = obj["spec"]
        self.tag = hashlib.sha1(self.uid.encode()).hexdigest()[:10]
        self.netns = f"tbp-{self.tag}"
        self.dir = os.path.join(rt.state, "pods", f"{self.ns}_{self.name}_{self.uid[:8]}")
        self.hosts_file = os.path.join(self.dir, "hosts")
        self.resolv_file = os.path.join(self.dir, "resolv.conf")
        self.hostname = self.spec.get("hostname") or self.name
        self.ip = None
        self.started_at = None
        self.phase = "Pending"
        self.init = [Container(self, c, init=True) for c in self.spec.get("initContainers") or []]
        self.main = [Container(self, c) for c in self.spec.get("containers") or []]
        self.init_done = not self.init
        self.prepared = False
        self.forwarded = False  # its kwok PortForward and Logs written
        self.pending_reason = None
        self.deleting_since = None
        self.last_status = None
        self.restart_policy = self.spec.get("restartPolicy", "Always")

    # -- setup ---------------------------------------------------------------

    def prepare(self):
        os.makedirs(self.dir, exist_ok=True)
        wanted = (self.obj.get("status") or {}).get("podIP")
        self.ip = self.rt.network.allocate(wanted)
        Network.detach(self.netns)
        self.rt.network.attach(self.netns, self.ip, self.tag)
        self.rt.guard("network policy", self.rt.policies.pod_prepared, self, list(self.rt.pods.values()))
        with open(self.resolv_file, "w") as f:
            f.write(f"search {self.ns}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n")
        with open(self.hosts_file, "w") as f:
            f.write(self.rt.render_hosts(self))
        self.started_at = now_rfc3339()
        self.prepared = True
        self.forwarded = False
        log(f"{self.key}: network namespace {self.netns} at {self.ip}")

    def teardown(self):
        for c in self.init + self.main:
            c.stop_probes()
            c.signal(signal.SIGKILL)
            if c.proc:
                try:
                    c.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        if self.prepared:
            Network.detach(self.netns)
            self.rt.network.release(self.ip)
        shutil.rmtree(os.path.join(self.dir, "overlay"), ignore_errors=True)
        self.prepared = False

    def env_for(self, spec):
        env = {
            "PATH": "/opt/testbed-bin:/opt/testbed-server:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": self.hostname,
            "HOME": "/root",
        }
        for src in spec.get("envFrom") or []:
            prefix = src.get("prefix", "")
            if "configMapRef" in src:
                cm = self.rt.get_object("configmaps", self.ns, src["configMapRef"]["name"],
                                        src["configMapRef"].get("optional", False))
                for k, v in ((cm or {}).get("data") or {}).items():
                    env[prefix + k] = v
            if "secretRef" in src:
                sec = self.rt.get_object("secrets", self.ns, src["secretRef"]["name"],
                                         src["secretRef"].get("optional", False))
                for k, v in ((sec or {}).get("data") or {}).items():
                    env[prefix + k] = base64.b64decode(v).decode(errors="replace")
        for e in spec.get("env") or []:
            if "valueFrom" not in e:
                env[e["name"]] = expand_vars(e.get("value", ""), env)
                continue
            vf = e["valueFrom"]
            if "secretKeyRef" in vf:
                r = vf["secretKeyRef"]
                sec = self.rt.get_object("secrets", self.ns, r["name"], r.get("optional", False))
                if sec and r["key"] in (sec.get("data") or {}):
                    env[e["name"]] = base64.b64decode(sec["data"][r["key"]]).decode(errors="replace")
                elif not r.get("optional", False):
                    raise MissingDependency(f"secret {r['name']} has no key {r['key']}")
            elif "configMapKeyRef" in vf:
                r = vf["configMapKeyRef"]
                cm = self.rt.get_object("configmaps", self.ns, r["name"], r.get("optional", False))
                if cm and r["key"] in (cm.get("data") or {}):
                    env[e["name"]] = cm["data"][r["key"]]
                elif not r.get("optional", False):
                    raise MissingDependency(f"configmap {r['name']} has no key {r['key']}")
            elif "fieldRef" in vf:
                env[e["name"]] = self.field(vf["fieldRef"]["fieldPath"])
        return env

    def field(self, path):
        meta = self.obj["metadata"]
        simple = {
            "metadata.name": self.name,
            "metadata.namespace": self.ns,
            "metadata.uid": self.uid,
            "spec.nodeName": self.spec.get("nodeName", ""),
            "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
            "status.podIP": self.ip or "",
            "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        m = re.match(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if m:
            return (meta.get(m.group(1)) or {}).get(m.group(2), "")
        return ""

    def volume_source(self, vol):
        """Materializes one volume; returns its host folder."""
        name = vol["name"]
        folder = os.path.join(self.dir, "volumes", name)
        mode = 0o644
        if "emptyDir" in vol:
            os.makedirs(folder, exist_ok=True)
            os.chmod(folder, 0o777)
            return folder
        if "configMap" in vol:
            src = vol["configMap"]
            cm = self.rt.get_object("configmaps", self.ns, src["name"], src.get("optional", False))
            write_files(folder, key_files((cm or {}).get("data"), (cm or {}).get("binaryData"),
                                          src.get("items")), src.get("defaultMode", mode))
            return folder
        if "secret" in vol:
            src = vol["secret"]
            sec = self.rt.get_object("secrets", self.ns, src["secretName"], src.get("optional", False))
            files = {k: base64.b64decode(v) for k, v in ((sec or {}).get("data") or {}).items()}
            if src.get("items"):
                files = {it["path"]: files[it["key"]] for it in src["items"] if it["key"] in files}
            write_files(folder, files, src.get("defaultMode", mode))
            return folder
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"]["claimName"]
            pvc = self.rt.get_object("persistentvolumeclaims", self.ns, claim, False)
            pv_name = (pvc.get("spec") or {}).get("volumeName")
            if not pv_name or (pvc.get("status") or {}).get("phase") != "Bound":
                raise MissingDependency(f"claim {claim} is not bound")
            pv = self.rt.api.get(f"/api/v1/persistentvolumes/{pv_name}")
            path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
            if not path:
                raise MissingDependency(f"volume {pv_name} is not a host-path volume")
            os.makedirs(path, exist_ok=True)
            return path
        if "hostPath" in vol:
            path = vol["hostPath"]["path"]
            os.makedirs(path, exist_ok=True)
            return path
        if "downwardAPI" in vol:
            files = {it["path"]: self.field(it["fieldRef"]["fieldPath"]).encode()
                     for it in vol["downwardAPI"].get("items") or [] if "fieldRef" in it}
            write_files(folder, files)
            return folder
        if "projected" in vol:
            files = {}
            for s in vol["projected"].get("sources") or []:
                if "configMap" in s:
                    cm = self.rt.get_object("configmaps", self.ns, s["configMap"]["name"], True) or {}
                    files.update(key_files(cm.get("data"), cm.get("binaryData"), s["configMap"].get("items")))
                elif "secret" in s:
                    sec = self.rt.get_object("secrets", self.ns, s["secret"]["name"], True) or {}
                    fs = {k: base64.b64decode(v) for k, v in (sec.get("data") or {}).items()}
                    if s["secret"].get("items"):
                        fs = {it["path"]: fs[it["key"]] for it in s["secret"]["items"] if it["key"] in fs}
                    files.update(fs)
                elif "downwardAPI" in s:
                    for it in s["downwardAPI"].get("items") or []:
                        if "fieldRef" in it:
                            files[it["path"]] = self.field(it["fieldRef"]["fieldPath"]).encode()
                elif "serviceAccountToken" in s:
                    files[s["serviceAccountToken"]["path"]] = self.rt.token_for(self).encode()
            write_files(folder, files)
            return folder
        raise MissingDependency(f"volume {name}: this source is not supported by the test bed runtime")

    def mounts_for(self, spec):
        """[(host path, container path, read-only, is a single file)]"""
        sources = {}
        for vol in self.spec.get("volumes") or []:
            sources[vol["name"]] = (vol, self.volume_source(vol))
        mounts = []
        for m in spec.get("volumeMounts") or []:
            vol, src = sources[m["name"]]
            ro = m.get("readOnly", False) or any(k in vol for k in ("configMap", "secret", "projected", "downwardAPI"))
            sub = m.get("subPath")
            if sub:
                src = os.path.join(src, sub)
                if not os.path.exists(src):
                    os.makedirs(src, exist_ok=True)
            self.chown_for_fs_group(vol, src)
            mounts.append((src, m["mountPath"], ro, os.path.isfile(src)))
        return mounts

    def chown_for_fs_group(self, vol, path):
        """fsGroup, as a kubelet applies it: the volume's files belong to the group, and
        writable volumes (emptyDir, claims) are group-writable with setgid folders."""
        sc = self.spec.get("securityContext") or {}
        group = sc.get("fsGroup")
        if group is None or "hostPath" in vol:
            return
        writable = any(k in vol for k in ("emptyDir", "persistentVolumeClaim"))
        for root, dirs, files in os.walk(path):
            for p in [root] + [os.path.join(root, f) for f in dirs + files]:
                try:
                    os.chown(p, -1, group)
                    if writable:
                        mode = os.stat(p).st_mode
                        extra = 0o2070 if os.path.isdir(p) else 0o060
                        os.chmod(p, (mode & 0o7777) | extra)
                except OSError:
                    pass

    # -- lifecycle -----------------------------------------------------------

    def step(self, now):
        """Advance containers; returns the status to report."""
        if not self.prepared:
            try:
                self.materialize_check()
                self.prepare()
            except MissingDependency as e:
                self.pending_reason = str(e)
                return self.status()
        if not self.forwarded:
            # Apart from prepare: when the API server is away at that moment (a step
            # that fails here is taken again next tick), the pod still gets its
            # port-forward once it is back, instead of none ever.
            self.rt.ensure_port_forward(self)
            self.forwarded = True
        if not self.init_done:
            self.step_init(now)
        else:
            for c in self.main:
                self.step_container(c, now)
        return self.status()

    def materialize_check(self):
        for vol in self.spec.get("volumes") or []:
            self.volume_source(vol)

    def start_container(self, c):
        try:
            c.start()
            self.pending_reason = None
        except MissingDependency as e:
            c.waiting_reason = "CreateContainerConfigError"
            c.waiting_message = str(e)
            c.next_start = time.monotonic() + 2

    def step_init(self, now):
        for c in self.init:
            if not c.known:
                continue
            if c.refused:
                c.step_pull(now)
                return
            if c.finished and c.finished["exitCode"] == 0 and not c.running():
                continue
            if c.running():
                return
            code = c.poll() if c.proc else None
            if c.finished and c.finished["exitCode"] != 0:
                if self.restart_policy == "Never":
                    self.phase = "Failed"
                    return
                if now < c.next_start:
                    return
                c.restart_count += 1
            if c.proc is None and (c.finished is None or c.finished["exitCode"] != 0):
                self.start_container(c)
            return
        self.init_done = True

    def step_container(self, c, now):
        if not c.known:
            return
        if c.refused:
            c.step_pull(now)
            return
        if c.running():
            if c.run_probes(now):
                c.signal(signal.SIGTERM)
                c.proc.wait(timeout=self.spec.get("terminationGracePeriodSeconds", 30))
            else:
                return
        code = c.poll() if c.proc is not None else None
        if code is not None:
            c.stop_probes()
            c.last_state = c.finished
            restart = self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)
            if restart:
                c.backoff = BACKOFF_START if c.backoff == 0 else min(c.backoff * 2, BACKOFF_MAX)
                c.next_start = now + c.backoff
                c.waiting_reason = "CrashLoopBackOff"
                c.waiting_message = f"back-off {int(c.backoff)}s restarting failed container={c.name} pod={self.name}"
            else:
                c.waiting_reason = None
            return
        if c.finished is None and c.proc is None:
            self.start_container(c)
            return
        if c.waiting_reason == "CrashLoopBackOff" and now >= c.next_start:
            c.restart_count += 1
            self.start_container(c)
        elif c.waiting_reason == "CreateContainerConfigError" and now >= c.next_start:
            self.start_container(c)

    def terminating(self, now, grace):
        """Stops the containers: SIGTERM, then SIGKILL after the grace period."""
        if self.deleting_since is None:
            self.deleting_since = now
            log(f"{self.key}: deleting, grace period {grace}s")
            for c in self.init + self.main:
                c.stop_probes()
                c.signal(signal.SIGTERM)
        alive = [c for c in self.init + self.main if c.running()]
        if alive and now - self.deleting_since >= grace:
            for c in alive:
                log(f"{self.key}/{c.name}: still running after {grace}s, SIGKILL")
                c.signal(signal.SIGKILL)
        for c in self.init + self.main:
            if c.proc is not None and c.proc.poll() is not None:
                c.poll()
        return not any(c.running() for c in self.init + self.main)

    def status(self):
        now = now_rfc3339()
        known_main = [c for c in self.main if c.known]
        statuses = [c.status() for c in self.main]
        init_statuses = [c.status() for c in self.init]
        phase = self.phase
        if phase not in ("Succeeded", "Failed"):
            if not self.prepared or not self.init_done:
                phase = "Pending"
            elif any(c.refused for c in self.main) and not any(
                    c.started_at for c in known_main if not c.refused):
                phase = "Pending"  # as a kubelet's pod whose images cannot be pulled
            elif self.restart_policy != "Always" and known_main and all(
                    not c.running() and c.finished is not None and c.waiting_reason is None
                    for c in known_main):
                phase = "Succeeded" if all(c.finished["exitCode"] == 0 for c in known_main) else "Failed"
            else:
                phase = "Running"
        self.phase = phase if phase in ("Succeeded", "Failed") else self.phase
        ready = phase == "Running" and all(s["ready"] for s in statuses)
        def cond(t, ok, reason=None, message=None):
            c = {"type": t, "status": "True" if ok else "False", "lastProbeTime": None}
            if reason and not ok:
                c["reason"] = reason
            if message and not ok:
                c["message"] = message
            return c
        not_ready = [s["name"] for s in statuses if not s["ready"]]
        msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else None
        conds = [
            cond("PodReadyToStartContainers", self.prepared),
            cond("Initialized", self.init_done, "ContainersNotInitialized"),
            cond("ContainersReady", ready, "ContainersNotReady", msg),
            cond("Ready", ready, "ContainersNotReady", msg),
            cond("PodScheduled", True),
        ]
        prev = {c["type"]: c for c in ((self.last_status or {}).get("conditions") or [])}
        for c in conds:
            p = prev.get(c["type"])
            c["lastTransitionTime"] = p["lastTransitionTime"] if p and p["status"] == c["status"] else now
        status = {
            "phase": phase,
            "conditions": conds,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "containerStatuses": statuses,
            "initContainerStatuses": init_statuses,
            "qosClass": (self.obj.get("status") or {}).get("qosClass", "BestEffort"),
        }
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.started_at:
            status["startTime"] = self.started_at
        if self.pending_reason:
            status["message"] = self.pending_reason
            status["reason"] = "ContainerCreating"
        else:
            status["message"] = None
            status["reason"] = None
        return status


# ---------------------------------------------------------------------------
# the runtime


class Runtime:
    def __init__(self, args):
        self.api = Api(args.server, args.ca, args.cert, args.key)
        self.state = args.state
        self.images = images.Images(args.tools, images.read_versions(
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "versions.env")))
        self.shims = {}  # server key -> folder of shims, mounted at /opt/testbed-bin
        self.relay = None  # the port-forward relay (forward.c), once built
        self.network = Network(args.cidr)
        self.pods = {}  # uid -> Pod
        self.ignored = set()
        self.forwards_checked = time.monotonic()
        self.cache = {}
        self.hosts_rev = None
        self.hosts_entries = []
        self.policies = netpol.Enforcer(self.api, log)
        self.resizer = resizer.Resizer(self.api, log)
        self.lost_nodes = faults.LostNodes(self.api, log)
        self.gateway = objectstore.Gateway(BRIDGE_NS, BRIDGE, args.cidr, args.object_store,
                                           self.state, log) if args.object_store else None

    @staticmethod
    def guard(what, fn, *args):
        """Runs one companion's step; its failure is logged, the tick goes on."""
        try:
            fn(*args)
        except Exception as e:  # the next tick retries
            log(f"{what} failed: {type(e).__name__}: {e}")

    def setup(self):
        os.makedirs(os.path.join(self.state, "pods"), exist_ok=True)
        self.cleanup_leftovers()
        self.network.setup()
        for line in self.images.check():
            log(f"image table: {line}")
        # The redis and valkey images build their server with protected mode off;
        # Debian's has it on. Without a config file of the container's own, the shims
        # start from the images' default; with one, the container's file decides.
        self.shims = self.images.write_shims(os.path.join(self.state, "bin"))
        self.relay = forward_relay(os.path.join(self.state, "bin"))

    def cleanup_leftovers(self):
        r = run("ip", "netns", "list", check=False, quiet=True)
        for line in r.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith("tbp-"):
                for pid in run("ip", "netns", "pids", name, check=False, quiet=True).stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                Network.detach(name)

    def shutdown(self, *_):
        log("stopping every pod's processes")
        for pod in self.pods.values():
            pod.teardown()
        self.cleanup_leftovers()
        if self.gateway:
            self.gateway.stop()
        run("ip", "netns", "del", BRIDGE_NS, check=False, quiet=True)
        sys.exit(0)

    def get_object(self, kind, ns, name, optional):
        key = (kind, ns, name)
        hit = self.cache.get(key)
        if hit and time.monotonic() - hit[0] < 1.0:
            obj = hit[1]
        else:
            obj = self.api.get(f"/api/v1/namespaces/{ns}/{kind}/{name}", ok404=True)
            self.cache[key] = (time.monotonic(), obj)
        if obj is None and not optional:
            raise MissingDependency(f"{kind[:-1]} {ns}/{name} not found")
        return obj

    def token_for(self, pod):
        sa = pod.spec.get("serviceAccountName") or "default"
        try:
            r = self.api.request(
                "POST", f"/api/v1/namespaces/{pod.ns}/serviceaccounts/{sa}/token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                 "spec": {"expirationSeconds": 3600,
                          "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                             "name": pod.name, "uid": pod.uid}}})
            return r["status"]["token"]
        except RuntimeError as e:
            log(f"{pod.key}: no service account token: {e}")
            return ""

    def ensure_port_forward(self, pod):
        """A kwok PortForward for the pod: each port runs socat inside the pod's network
        namespace, so the API server's port-forward reaches 127.0.0.1:<port> there,
        as a kubelet's does."""
        ports = set(FORWARDED_PORTS)
        for c in pod.spec.get("containers") or []:
            for p in c.get("ports") or []:
                ports.add(p["containerPort"])
        forwards = [
            {"ports": [p], "command": [self.relay, f"/run/netns/{pod.netns}", str(p)] if self.relay
                                      else in_netns(pod.netns, "socat", "STDIO", f"TCP:127.0.0.1:{p}")}
            for p in sorted(ports)
        ]
        owner = {"apiVersion": "v1", "kind": "Pod", "name": pod.name, "uid": pod.uid}
        base = f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{pod.ns}"
        self.replace_owned(f"{base}/portforwards/{pod.name}", pod, {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
            "metadata": {"name": pod.name, "namespace": pod.ns, "ownerReferences": [owner]},
            "spec": {"forwards": forwards}})
        self.replace_owned(f"{base}/logs/{pod.name}", pod, {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
            "metadata": {"name": pod.name, "namespace": pod.ns, "ownerReferences": [owner]},
            "spec": {"logs": [{"containers": [c["name"]],
                               "logsFile": os.path.join(pod.dir, f"{c['name']}.log")}
                              for c in pod.spec.get("containers") or []]}})

    def replace_owned(self, path, pod, obj):
        """Writes `obj`, a per-pod kwok object named as the pod. One a predecessor of the
        same name (a StatefulSet's replaced pod) owns is deleted and made anew, never
        updated in place: the garbage collector queued it when that pod went, and could
        delete it after the update, leaving the pod without a port-forward (clients
        then waited out the rest of a rolling restart). A new object, with a new uid,
        is out of that deletion's reach (it is conditional on the old uid)."""
        current = self.api.get(path, ok404=True)
        if current and pod.uid not in owner_uids(current):
            body = {"apiVersion": "v1", "kind": "DeleteOptions",
                    "preconditions": {"uid": current["metadata"].get("uid")}}
            try:
                self.api.request("DELETE", path, body, ok404=True)
            except RuntimeError as e:
                if ": 409 " not in str(e):  # replaced meanwhile: that one goes too, next tick
                    raise
        self.api.apply(path, obj)

    def check_port_forwards(self):
        """Every running pod's PortForward still there and its own; a pod whose is not
        gets it again this tick (see replace_owned)."""
        items = self.api.get("/apis/kwok.x-k8s.io/v1alpha1/portforwards")["items"]
        owned = {(o["metadata"]["namespace"], o["metadata"]["name"]): owner_uids(o)
                 for o in items}
        for pod in self.pods.values():
            if pod.prepared and pod.forwarded and pod.uid not in owned.get((pod.ns, pod.name), ()):
                log(f"{pod.key}: its port-forward went missing; writing it again")
                pod.forwarded = False

    def update_hosts(self, pods, services):
        """Pod and Service DNS names, as each pod's /etc/hosts (rewritten in place)."""
        entries = []  # (namespace, ip, [fqdn...], [short names valid in namespace])
        for p in self.pods.values():
            if not p.ip or not p.prepared:  # torn down: its address may be another's now
                continue
            sub = p.spec.get("subdomain")
            names = []
            short = [p.hostname]
            if sub:
                base = f"{p.hostname}.{sub}.{p.ns}"
                names = [f"{base}.svc.cluster.local", f"{base}.svc", base]
                short.append(f"{p.hostname}.{sub}")
            entries.append((p.ns, p.ip, names, short, p.uid))
        by_ns = {}
        for p in self.pods.values():
            by_ns.setdefault(p.ns, []).append(p)
        for svc in services:
            meta, spec = svc["metadata"], svc.get("spec") or {}
            selector = spec.get("selector")
            if not selector:
                continue
            headless = spec.get("clusterIP") == "None"
            publish = spec.get("publishNotReadyAddresses", False)
            for p in by_ns.get(meta["namespace"], []):
                labels = p.obj["metadata"].get("labels") or {}
                if not p.ip or not p.prepared or any(labels.get(k) != v for k, v in selector.items()):
                    continue
                if not (publish or (p.last_status or {}).get("conditions") and
                        any(c["type"] == "Ready" and c["status"] == "True"
                            for c in p.last_status["conditions"])):
                    continue
                base = f"{meta['name']}.{meta['namespace']}"
                entries.append((meta["namespace"], p.ip,
                                [f"{base}.svc.cluster.local", f"{base}.svc", base],
                                [meta["name"]], None))
                if not headless:
                    break  # one address for a ClusterIP service: no kube-proxy here
        rev = json.dumps(entries, sort_keys=True)
        if rev == self.hosts_rev:
            return
        self.hosts_rev = rev
        self.hosts_entries = entries
        for p in self.pods.values():
            if not p.prepared:
                continue
            content = self.render_hosts(p)
            try:
                with open(p.hosts_file, "r+") as f:
                    if f.read() != content:
                        f.seek(0)
                        f.write(content)
                        f.truncate()
            except FileNotFoundError:
                pass

    def render_hosts(self, pod):
        """The /etc/hosts of one pod: every name, the short ones of its namespace too."""
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        entries = list(self.hosts_entries)
        if pod.ip and not any(uid == pod.uid for *_, uid in entries):
            entries.append((pod.ns, pod.ip, [], [pod.hostname], pod.uid))
        for ns, ip, names, short, _ in entries:
            all_names = list(names) + (short if ns == pod.ns else [])
            if all_names:
                lines.append(f"{ip} {' '.join(all_names)}")
        return "\n".join(lines) + "\n"

    def tick(self):
        now = time.monotonic()
        if self.gateway:
            self.guard("object store gateway", self.gateway.ensure)
        listing = self.api.get("/api/v1/pods")["items"]
        services = self.api.get("/api/v1/services")["items"]
        self.guard("lost nodes", self.lost_nodes.refresh)
        if now - self.forwards_checked >= FORWARD_CHECK_SECONDS:
            self.forwards_checked = now
            self.guard("port-forward check", self.check_port_forwards)
        seen = set()
        for obj in listing:
            meta, spec = obj["metadata"], obj["spec"]
            uid = meta["uid"]
            if not spec.get("nodeName"):
                continue
            images = [c.get("image") for c in spec.get("containers") or []]
            if not any(known_image(i) for i in images):
                if uid not in self.ignored:
                    self.ignored.add(uid)
                    log(f"{meta['namespace']}/{meta['name']}: no known image ({', '.join(images)}): "
                        "left to kwok's default behaviour")
                continue
            seen.add(uid)
            pod = self.pods.get(uid)
            if self.lost_nodes.holds(obj, pod):
                continue
            if pod is None:
                pod = self.pods[uid] = Pod(self, obj)
                unknown = [i for i in images if not known_image(i)]
                if unknown:
                    log(f"{pod.key}: containers with images {unknown} are not run, only reported running")
            pod.obj = obj
            if meta.get("deletionTimestamp"):
                grace = meta.get("deletionGracePeriodSeconds", 30)
                if pod.terminating(now, grace):
                    pod.teardown()
                    self.force_delete(pod)
                continue
            if pod.phase in ("Succeeded", "Failed") and pod.prepared and not any(
                    c.running() for c in pod.main):
                pod.teardown()
            try:
                status = pod.step(now) if pod.phase not in ("Succeeded", "Failed") or pod.prepared \
                    else pod.status()
            except Exception as e:  # one pod's failure must not stall every other pod
                log(f"{pod.key}: step failed: {type(e).__name__}: {e}")
                continue
            if status != pod.last_status:
                try:
                    self.api.patch_status(pod.ns, pod.name, status)
                    pod.last_status = status
                except RuntimeError as e:
                    log(f"{pod.key}: status update failed: {e}")
        for uid in list(self.pods):
            if uid not in seen:
                pod = self.pods.pop(uid)
                log(f"{pod.key}: gone, stopping its processes")
                pod.teardown()
        self.ignored &= {o["metadata"]["uid"] for o in listing}
        self.update_hosts(listing, services)
        self.guard("network policy", self.policies.sync, list(self.pods.values()))
        self.guard("volume expansion", self.resizer.sync, listing, self.pods)
        self.guard("lost-node eviction", self.lost_nodes.evict, listing)

    def force_delete(self, pod):
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": pod.uid}}
        try:
            self.api.request("DELETE", f"/api/v1/namespaces/{pod.ns}/pods/{pod.name}", body, ok404=True)
            log(f"{pod.key}: containers stopped, pod deleted")
        except RuntimeError as e:
            log(f"{pod.key}: delete failed: {e}")

    def loop(self, interval):
        while True:
            started = time.monotonic()
            try:
                self.tick()
            except Exception as e:  # keep serving; the next tick retries
                log(f"tick failed: {type(e).__name__}: {e}")
            time.sleep(max(0.05, interval - (time.monotonic() - started)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--cidr", default="10.245.0.0/16")
    p.add_argument("--tools", default=os.path.expanduser("~/.cache/terraform-provider-redis/tools"),
                   help="the folder of built tools (server versions, redis_exporter)")
    p.add_argument("--object-store", metavar="HOST:PORT",
                   help="the S3 store on the host's loopback, relayed to pods at the pod range's first address")
    p.add_argument("--interval", type=float, default=0.5)
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("the pod runtime needs root (network and mount namespaces)")
    for tool in ("ip", "unshare", "nsenter", "setpriv", "socat", "redis-server", "chroot", "nft"):
        if shutil.which(tool) is None:
            sys.exit(f"the pod runtime needs {tool} on PATH")
    rt = Runtime(args)
    signal.signal(signal.SIGTERM, rt.shutdown)
    signal.signal(signal.SIGINT, rt.shutdown)
    rt.setup()
    log(f"pod runtime up: pods in {args.cidr} behind bridge {BRIDGE} in netns {BRIDGE_NS}")
    rt.loop(args.interval)


if __name__ == "__main__":
    main()
