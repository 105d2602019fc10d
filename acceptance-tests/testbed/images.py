"""Which binaries the pod runtime runs behind an image: the test bed's version table.

An image is honoured only when the bed has the server version its tag names; any
other tag of a repository the bed knows is refused the way a kubelet refuses an image
it cannot pull (ErrImagePull, then ImagePullBackOff), with a message naming what the
bed has. The table is documented in acceptance-tests/README.md; keep the two alike.
"""

import os
import re
import subprocess
import time

# A build found missing is looked for again after this long (`testbed build` may be
# running while the bed is up).
RECHECK_SECONDS = 10.0

# [registry/][library/]repository[:tag][@digest]
REFERENCE = re.compile(
    r"^(?:docker\.io/)?(?:library/)?(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[^@/]+))?(?:@(?P<digest>.+))?$"
)

# (repository, tag pattern (whole tag), server key). First match wins.
SERVER_ROWS = [
    ("redis", r"7\.0(\.\d+)?(-.+)?", "redis-debian"),
    ("redis", r"7\.2(\.\d+)?(-.+)?", "redis-7.2"),
    ("redis", r"7\.4(\.\d+)?(-.+)?", "redis-7.4"),
    # The floating major tag: upstream's redis:7 is the newest 7.x, which is 7.4.
    ("redis", r"7(-.+)?", "redis-7.4"),
    ("valkey/valkey", r"8([.-].*)?", "valkey-8"),
    # Valkey 7.2 is another server; the bed declares it and runs Valkey 8.0.
    ("valkey/valkey", r"7\.2(\.\d+)?(-.+)?", "valkey-8"),
]
EXPORTER_REPO = "oliver006/redis_exporter"
SHELL_REPOS = ("busybox", "alpine")
SERVER_REPOS = ("redis", "valkey/valkey")

# Started without a config file of the container's own, the redis and valkey images'
# servers run with protected mode off (their builds' default); Debian's has it on.
SERVER_SHIM = """#!/bin/sh
for a in "$@"; do
  case "$a" in --sentinel|--version|-v|--help|-h|--test-memory|--check-system) exec {real} "$@" ;; esac
done
case "$1" in
  "" | -*) exec {real} /opt/testbed-bin/image-defaults.conf "$@" ;;
  *) exec {real} "$@" ;;
esac
"""

# Where a container sees its server's binaries and the runtime's shims.
SERVER_DIR = "/opt/testbed-server"
SHIM_DIR = "/opt/testbed-bin"


def read_versions(path):
    versions = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                versions[k.strip()] = v.strip()
    return versions


class Server:
    """One server build: its name, version and binaries."""

    def __init__(self, key, product, program, version, bindir):
        self.key = key
        self.product = product  # "Redis" or "Valkey"
        self.program = program  # "redis" or "valkey": the binaries' prefix
        self.version = version
        self.bindir = bindir  # None: Debian's, in /usr/bin
        self.error = None
        self.checked = None  # monotonic time of the last check

    def describe(self):
        return f"{self.product} {self.version}"

    def real_binary(self, tool):
        """The path a container sees for one of this build's binaries."""
        return f"/usr/bin/{tool}" if self.bindir is None else f"{SERVER_DIR}/{tool}"

    def check(self):
        """Runs the build's server with --version; records why it cannot be used."""
        self.checked = time.monotonic()
        self.error = None
        binary = "/usr/bin/redis-server" if self.bindir is None else \
            os.path.join(self.bindir, f"{self.program}-server")
        if not os.access(binary, os.X_OK):
            self.error = f"{self.describe()} is not built here ({binary} is missing; run testbed build)"
            return
        out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"v=(\S+)", out)
        if not m:
            self.error = f"{binary} --version printed {out.strip()!r}"
        elif m.group(1) != self.version:
            self.error = f"{binary} is version {m.group(1)}, the table says {self.version}"


class Image:
    """What the runtime does with one container image."""

    def __init__(self, kind, reference, server=None, binary=None, message=None):
        self.kind = kind  # "server", "exporter", "shell" or "refused"
        self.reference = reference
        self.server = server
        self.binary = binary
        self.message = message

    def image_id(self):
        if self.kind == "server":
            return f"testbed://{self.server.program}-{self.server.version}"
        if self.kind == "exporter":
            return f"testbed://{os.path.basename(os.path.dirname(self.binary))}"
        return ""


class Images:
    def __init__(self, tools, versions):
        v = versions
        self.servers = {
            "redis-debian": Server("redis-debian", "Redis", "redis", "7.0.15", None),
            "redis-7.2": Server("redis-7.2", "Redis", "redis", v["REDIS_72_VERSION"],
                                os.path.join(tools, f"redis-{v['REDIS_72_VERSION']}")),
            "redis-7.4": Server("redis-7.4", "Redis", "redis", v["REDIS_74_VERSION"],
                                os.path.join(tools, f"redis-{v['REDIS_74_VERSION']}")),
            "valkey-8": Server("valkey-8", "Valkey", "valkey", v["VALKEY_VERSION"],
                               os.path.join(tools, f"valkey-{v['VALKEY_VERSION']}")),
        }
        self.exporter_version = v["REDIS_EXPORTER_VERSION"]
        self.exporter = os.path.join(tools, f"redis_exporter-{self.exporter_version}", "redis_exporter")
        self.cache = {}

    def check(self):
        """Verifies every build; returns the table as lines for the log."""
        lines = []
        for s in self.servers.values():
            s.check()
        for repo, pattern, key in SERVER_ROWS:
            s = self.servers[key]
            lines.append(f"{repo}:{readable(pattern)} -> {s.describe()}" + (f" UNAVAILABLE: {s.error}" if s.error else ""))
        ok = os.access(self.exporter, os.X_OK)
        lines.append(f"{EXPORTER_REPO}:* -> redis_exporter {self.exporter_version}"
                     + ("" if ok else f" UNAVAILABLE: {self.exporter} is missing"))
        return lines

    def available(self):
        """What the bed runs, for refusal messages."""
        rows = {}
        for repo, pattern, key in SERVER_ROWS:
            s = self.servers[key]
            if s.error is None:
                rows.setdefault(s.describe(), []).append(f"{repo}:{readable(pattern)}")
        parts = [f"{', '.join(tags)} ({what})" for what, tags in rows.items()]
        if os.access(self.exporter, os.X_OK):
            parts.append(f"{EXPORTER_REPO}:* (redis_exporter {self.exporter_version})")
        return "; ".join(parts)

    def resolve(self, reference):
        """An Image, or None for a repository the runtime does not run."""
        reference = reference or ""
        if reference in self.cache:
            return self.cache[reference]
        img = self._resolve(reference)
        if img is None or img.kind != "refused":
            self.cache[reference] = img
        return img

    def _resolve(self, reference):
        m = REFERENCE.match(reference)
        if not m:
            return None
        repo, tag = m.group("repo"), m.group("tag")
        if repo in SHELL_REPOS:
            return Image("shell", reference)
        if repo == EXPORTER_REPO:
            if not os.access(self.exporter, os.X_OK):
                return Image("refused", reference, message=self.refusal(
                    reference, f"redis_exporter {self.exporter_version} is not built here"))
            return Image("exporter", reference, binary=self.exporter)
        if repo not in SERVER_REPOS:
            return None
        if tag is None:
            why = "a reference without a tag names no version the bed can honour"
            return Image("refused", reference, message=self.refusal(reference, why))
        for row_repo, pattern, key in SERVER_ROWS:
            if row_repo == repo and re.fullmatch(pattern, tag):
                s = self.servers[key]
                if s.error and time.monotonic() - s.checked > RECHECK_SECONDS:
                    s.check()
                if s.error:
                    return Image("refused", reference, message=self.refusal(reference, s.error))
                return Image("server", reference, server=s)
        return Image("refused", reference, message=self.refusal(reference, "no build of that version"))

    def refusal(self, reference, why):
        return (f"the test bed cannot run image \"{reference}\": {why}; "
                f"it runs {self.available()}")

    def write_shims(self, folder):
        """One folder of shims per server build, mounted at /opt/testbed-bin."""
        dirs = {}
        for key, s in self.servers.items():
            d = os.path.join(folder, key)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "image-defaults.conf"), "w") as f:
                f.write("protected-mode no\n")
            names = ["redis-server"] + (["valkey-server"] if s.program == "valkey" else [])
            for name in names:
                path = os.path.join(d, name)
                with open(path, "w") as f:
                    f.write(SERVER_SHIM.format(real=s.real_binary(name)))
                os.chmod(path, 0o755)
            dirs[key] = d
        return dirs


def readable(pattern):
    """A row's tag pattern as the README writes it: 7\\.2(...)... -> 7.2*."""
    head = re.match(r"[0-9\\.]+", pattern).group(0).replace("\\", "")
    return head + "*" if pattern != r"7(-.+)?" else "7, 7-*"
