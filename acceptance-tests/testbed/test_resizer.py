"""Unit tests of resizer.py's quantity parsing and claim state machine (no cluster)."""

import unittest

from resizer import next_step, quantity_bytes


def claim(request, capacity, statuses=None, allocated=None, conditions=None):
    status = {"phase": "Bound", "capacity": {"storage": capacity},
              "conditions": conditions or []}
    if statuses:
        status["allocatedResourceStatuses"] = {"storage": statuses}
    if allocated:
        status["allocatedResources"] = {"storage": allocated}
    return {"metadata": {"namespace": "n", "name": "c"},
            "spec": {"resources": {"requests": {"storage": request}}, "volumeName": "pv"},
            "status": status}


def volume(capacity):
    return {"metadata": {"name": "pv"}, "spec": {"capacity": {"storage": capacity}}}


def apply(pvc, pv, step):
    """Applies a step's patches as the API server's merge patch would."""
    _, status, pv_patch = step
    for k, v in status.items():
        if v is None:
            pvc["status"].pop(k, None)
        else:
            pvc["status"][k] = v
    if pv_patch:
        pv["spec"]["capacity"] = pv_patch["spec"]["capacity"]


class Quantities(unittest.TestCase):
    def test_binary_decimal_and_exponent_forms(self):
        self.assertEqual(quantity_bytes("1Gi"), 2**30)
        self.assertEqual(quantity_bytes("1536Mi"), 1536 * 2**20)
        self.assertEqual(quantity_bytes("2G"), 2 * 10**9)
        self.assertEqual(quantity_bytes("1e9"), 10**9)
        self.assertEqual(quantity_bytes("0.5Gi"), 2**29)
        self.assertEqual(quantity_bytes("100"), 100)
        self.assertEqual(quantity_bytes("1500m"), 1)
        self.assertGreater(quantity_bytes("2Gi"), quantity_bytes("2G"))
        with self.assertRaises(ValueError):
            quantity_bytes("lots")


class ExpansionSteps(unittest.TestCase):
    def test_a_mounted_claim_goes_through_controller_then_node_resize(self):
        pvc, pv = claim("2Gi", "1Gi", conditions=[{"type": "Other", "status": "True"}]), volume("1Gi")
        step = next_step(pvc, pv, mounted=True)
        self.assertEqual(step[0], "controller resize started")
        apply(pvc, pv, step)
        self.assertEqual([c["type"] for c in pvc["status"]["conditions"]], ["Other", "Resizing"])
        self.assertEqual(pvc["status"]["allocatedResourceStatuses"], {"storage": "ControllerResizeInProgress"})
        self.assertEqual(pvc["status"]["allocatedResources"], {"storage": "2Gi"})

        step = next_step(pvc, pv, mounted=True)
        self.assertEqual(step[0], "controller resize done, node resize pending")
        apply(pvc, pv, step)
        self.assertEqual(pv["spec"]["capacity"]["storage"], "2Gi")
        self.assertEqual([c["type"] for c in pvc["status"]["conditions"]], ["Other", "FileSystemResizePending"])
        self.assertEqual(pvc["status"]["capacity"]["storage"], "1Gi", "the claim waits for the node")

        step = next_step(pvc, pv, mounted=True)
        self.assertEqual(step[0], "file system resized on the node")
        apply(pvc, pv, step)
        self.assertEqual(pvc["status"]["capacity"]["storage"], "2Gi")
        self.assertEqual([c["type"] for c in pvc["status"]["conditions"]], ["Other"])
        self.assertNotIn("allocatedResourceStatuses", pvc["status"])
        self.assertIsNone(next_step(pvc, pv, mounted=True), "nothing left to do")

    def test_an_unmounted_claim_waits_at_file_system_resize_pending(self):
        pvc, pv = claim("2Gi", "1Gi"), volume("1Gi")
        apply(pvc, pv, next_step(pvc, pv, mounted=False))
        apply(pvc, pv, next_step(pvc, pv, mounted=False))
        self.assertIsNone(next_step(pvc, pv, mounted=False))
        self.assertEqual(pvc["status"]["allocatedResourceStatuses"], {"storage": "NodeResizePending"})
        self.assertEqual(next_step(pvc, pv, mounted=True)[0], "file system resized on the node")

    def test_an_unchanged_or_unbound_claim_needs_nothing(self):
        self.assertIsNone(next_step(claim("1Gi", "1Gi"), volume("1Gi"), mounted=True))
        self.assertIsNone(next_step(claim("1024Mi", "1Gi"), volume("1Gi"), mounted=True))
        unbound = claim("2Gi", "1Gi")
        unbound["status"]["phase"] = "Pending"
        self.assertIsNone(next_step(unbound, volume("1Gi"), mounted=True))
        self.assertIsNone(next_step(claim("2Gi", "1Gi"), None, mounted=True))

    def test_growing_again_during_a_resize_restarts_it_with_the_new_size(self):
        pvc, pv = claim("2Gi", "1Gi"), volume("1Gi")
        apply(pvc, pv, next_step(pvc, pv, mounted=False))
        apply(pvc, pv, next_step(pvc, pv, mounted=False))
        pvc["spec"]["resources"]["requests"]["storage"] = "3Gi"
        step = next_step(pvc, pv, mounted=False)
        self.assertEqual(step[0], "controller resize started")
        apply(pvc, pv, step)
        apply(pvc, pv, next_step(pvc, pv, mounted=False))
        self.assertEqual(pv["spec"]["capacity"]["storage"], "3Gi")


if __name__ == "__main__":
    unittest.main()
