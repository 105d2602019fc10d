"""Unit tests of images.py's version table: which tags run what, and which are refused."""

import os
import stat
import tempfile
import unittest

import images

VERSIONS = {
    "REDIS_72_VERSION": "7.2.6",
    "REDIS_74_VERSION": "7.4.1",
    "VALKEY_VERSION": "8.0.1",
    "REDIS_EXPORTER_VERSION": "v1.88.0",
}


def fake_build(folder, program, version):
    """A folder with a <program>-server that reports `version`, as a build would."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{program}-server")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\necho '{program} server v={version} sha=0 malloc=libc bits=64'\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


class VersionTable(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        tools = self.tmp.name
        fake_build(os.path.join(tools, "redis-7.2.6"), "redis", "7.2.6")
        fake_build(os.path.join(tools, "redis-7.4.1"), "redis", "7.4.1")
        fake_build(os.path.join(tools, "valkey-8.0.1"), "valkey", "8.0.1")
        exporter = os.path.join(tools, "redis_exporter-v1.88.0")
        fake_build(exporter, "redis_exporter", "v1.88.0")
        os.rename(os.path.join(exporter, "redis_exporter-server"), os.path.join(exporter, "redis_exporter"))
        self.table = images.Images(tools, VERSIONS)
        # Debian's 7.0.15 is whatever /usr/bin has; these tests cover the built rows.
        self.table.check()

    def tearDown(self):
        self.tmp.cleanup()

    def runs(self, reference):
        img = self.table.resolve(reference)
        self.assertIsNotNone(img, reference)
        self.assertEqual(img.kind, "server", f"{reference}: {img.message}")
        return img.server.describe()

    def test_minor_tags_run_their_own_build(self):
        self.assertEqual(self.runs("redis:7.2-alpine"), "Redis 7.2.6")
        self.assertEqual(self.runs("redis:7.2.6"), "Redis 7.2.6")
        self.assertEqual(self.runs("docker.io/library/redis:7.4.1-bookworm"), "Redis 7.4.1")
        self.assertEqual(self.runs("redis:7.2@sha256:0123"), "Redis 7.2.6")

    def test_the_floating_major_tag_runs_the_newest_build_of_that_major(self):
        self.assertEqual(self.runs("redis:7"), "Redis 7.4.1")
        self.assertEqual(self.runs("redis:7-alpine"), "Redis 7.4.1")

    def test_valkey_tags_run_valkey(self):
        for ref in ("valkey/valkey:8", "valkey/valkey:8.0.1-alpine", "valkey/valkey:7.2"):
            self.assertEqual(self.runs(ref), "Valkey 8.0.1")

    def test_tags_without_a_build_are_refused_naming_what_the_bed_has(self):
        for ref in ("redis:8.2", "redis:6.2", "redis", "redis:latest", "redis:7.6", "valkey/valkey:9"):
            img = self.table.resolve(ref)
            self.assertEqual(img.kind, "refused", ref)
            self.assertIn(f'"{ref}"', img.message)
            for version in ("7.2.6", "7.4.1", "8.0.1"):
                self.assertIn(version, img.message)

    def test_a_missing_build_is_refused_with_the_reason_until_it_appears(self):
        valkey = os.path.join(self.tmp.name, "valkey-8.0.1", "valkey-server")
        os.rename(valkey, valkey + ".away")
        self.table.servers["valkey-8"].check()
        img = self.table.resolve("valkey/valkey:8")
        self.assertEqual(img.kind, "refused")
        self.assertIn("not built here", img.message)
        os.rename(valkey + ".away", valkey)
        self.table.servers["valkey-8"].checked -= images.RECHECK_SECONDS + 1
        self.assertEqual(self.runs("valkey/valkey:8"), "Valkey 8.0.1")

    def test_a_build_of_another_version_than_the_table_says_is_refused(self):
        fake_build(os.path.join(self.tmp.name, "redis-7.4.1"), "redis", "7.4.0")
        self.table.servers["redis-7.4"].check()
        img = self.table.resolve("redis:7.4")
        self.assertEqual(img.kind, "refused")
        self.assertIn("7.4.0", img.message)

    def test_the_exporter_shells_and_other_repositories(self):
        self.assertEqual(self.table.resolve("oliver006/redis_exporter:v1.62.0").kind, "exporter")
        self.assertEqual(self.table.resolve("busybox:1.36").kind, "shell")
        self.assertIsNone(self.table.resolve("registry.k8s.io/pause:3.10"))
        self.assertIsNone(self.table.resolve("nginx"))

    def test_shims_start_the_build_of_their_row_with_the_images_defaults(self):
        dirs = self.table.write_shims(os.path.join(self.tmp.name, "shims"))
        with open(os.path.join(dirs["valkey-8"], "valkey-server")) as f:
            self.assertIn("exec /opt/testbed-server/valkey-server /opt/testbed-bin/image-defaults.conf", f.read())
        with open(os.path.join(dirs["redis-debian"], "redis-server")) as f:
            self.assertIn("exec /usr/bin/redis-server", f.read())
        self.assertFalse(os.path.exists(os.path.join(dirs["redis-7.2"], "valkey-server")))


if __name__ == "__main__":
    unittest.main()
