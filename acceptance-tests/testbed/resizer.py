"""Volume expansion for the test bed's host-path claims, as a CSI external-resizer and
a kubelet would carry it out.

The in-tree host-path plugin cannot expand volumes, so kube-controller-manager's
expand controller leaves a grown claim to "an external controller" (its event
ExternalExpanding). This is that controller, for claims whose StorageClass allows
expansion and provisions host-path volumes (`expandable` in the bed). When a bound
claim's request exceeds its volume's capacity, it moves the claim through the states
a real external-resizer and kubelet produce (Kubernetes 1.34, RecoverVolumeExpansionFailure
GA), one step per runtime tick so each state can be seen:

1. controller resize starts: condition Resizing=True, status.allocatedResources.storage
   = the new request, allocatedResourceStatuses.storage = ControllerResizeInProgress;
2. controller resize done: the PersistentVolume's spec.capacity.storage grows; the
   claim's Resizing is replaced by FileSystemResizePending=True ("Waiting for user to
   (re-)start a pod to finish file system resize of volume on node."),
   allocatedResourceStatuses.storage = NodeResizePending;
3. node (file system) resize, done by the kubelet of a node where a running pod
   mounts the claim (online expansion): status.capacity.storage = the new size, the
   resize conditions and allocatedResourceStatuses are removed. A claim no running
   pod mounts stays at step 2 until one does, as in a real cluster.

A host-path volume has no size to change on disk, so steps 2 and 3 only report.
Shrinking is refused by the API server (requests may not go below status.capacity);
a StorageClass without allowVolumeExpansion is refused by its admission plugin
PersistentVolumeClaimResize, so `standard` claims never reach this code.
"""

import re
from datetime import datetime, timezone

RESIZE_CONDITIONS = ("Resizing", "FileSystemResizePending")
NODE_PENDING_MESSAGE = "Waiting for user to (re-)start a pod to finish file system resize of volume on node."
HOST_PATH_PROVISIONER = "kubernetes.io/host-path"

_SUFFIX = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "m": None,  # milli: fractions of a byte, see below
}


def quantity_bytes(q):
    """A resource.Quantity string ("1Gi", "1500M", "1e9", "0.5Gi") as a number of bytes."""
    m = re.fullmatch(r"\s*([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?)\s*",
                     str(q))
    if not m:
        raise ValueError(f"not a quantity: {q!r}")
    number, exp, suffix = m.group(1), m.group(2), m.group(3) or ""
    if exp:
        return int(float(number + exp))
    if suffix == "m":
        return int(float(number) / 1000)
    return int(float(number) * _SUFFIX[suffix])


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _other_conditions(pvc):
    return [c for c in (pvc.get("status") or {}).get("conditions") or []
            if c.get("type") not in RESIZE_CONDITIONS]


def next_step(pvc, pv, mounted):
    """What to do next for one claim: None, or (name, pvc status patch, pv patch)."""
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    if status.get("phase") != "Bound" or pv is None:
        return None
    want = (spec.get("resources") or {}).get("requests", {}).get("storage")
    have_pv = (pv.get("spec") or {}).get("capacity", {}).get("storage")
    have_claim = (status.get("capacity") or {}).get("storage")
    if not want or not have_pv:
        return None
    state = (status.get("allocatedResourceStatuses") or {}).get("storage")
    grows = quantity_bytes(want) > quantity_bytes(have_pv)
    if grows and state != "ControllerResizeInProgress":
        return ("controller resize started", {
            "conditions": _other_conditions(pvc) + [
                {"type": "Resizing", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": _now()}],
            "allocatedResources": {"storage": want},
            "allocatedResourceStatuses": {"storage": "ControllerResizeInProgress"},
        }, None)
    if state == "ControllerResizeInProgress":
        target = (status.get("allocatedResources") or {}).get("storage") or want
        if quantity_bytes(want) > quantity_bytes(target):
            target = want
        return ("controller resize done, node resize pending", {
            "conditions": _other_conditions(pvc) + [
                {"type": "FileSystemResizePending", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": _now(), "message": NODE_PENDING_MESSAGE}],
            "allocatedResources": {"storage": target},
            "allocatedResourceStatuses": {"storage": "NodeResizePending"},
        }, {"spec": {"capacity": {"storage": target}}})
    if state == "NodeResizePending" and mounted:
        if have_claim and quantity_bytes(have_claim) >= quantity_bytes(have_pv):
            return None
        return ("file system resized on the node", {
            "capacity": {"storage": have_pv},
            "conditions": _other_conditions(pvc),
            "allocatedResourceStatuses": None,
        }, None)
    return None


class Resizer:
    def __init__(self, api, log):
        self.api = api
        self.log = log
        self.classes = {}

    def expandable_classes(self):
        items = self.api.get("/apis/storage.k8s.io/v1/storageclasses")["items"]
        return {sc["metadata"]["name"] for sc in items
                if sc.get("allowVolumeExpansion") and sc.get("provisioner") == HOST_PATH_PROVISIONER}

    def sync(self, pod_listing, runtime_pods):
        """pod_listing: every pod, as listed; runtime_pods: uid -> the runtime's Pod."""
        claims = self.api.get("/api/v1/persistentvolumeclaims")["items"]
        candidates = [c for c in claims
                      if (c.get("spec") or {}).get("storageClassName")
                      and (c.get("status") or {}).get("phase") == "Bound"]
        if not candidates:
            return
        classes = None
        for pvc in candidates:
            meta, spec, status = pvc["metadata"], pvc["spec"], pvc.get("status") or {}
            want = (spec.get("resources") or {}).get("requests", {}).get("storage")
            have = (status.get("capacity") or {}).get("storage")
            if not (status.get("allocatedResourceStatuses") or {}) and want and have \
                    and quantity_bytes(want) <= quantity_bytes(have):
                continue  # nothing in flight and nothing asked: the common case, no more calls
            if classes is None:
                classes = self.expandable_classes()
            if spec["storageClassName"] not in classes:
                continue
            pv = self.api.get(f"/api/v1/persistentvolumes/{spec.get('volumeName')}", ok404=True)
            step = next_step(pvc, pv, self.mounted(meta["namespace"], meta["name"],
                                                   pod_listing, runtime_pods))
            if step is None:
                continue
            what, claim_status, pv_patch = step
            key = f"{meta['namespace']}/{meta['name']}"
            if pv_patch:
                self.api.request("PATCH", f"/api/v1/persistentvolumes/{pv['metadata']['name']}",
                                 pv_patch, "application/merge-patch+json")
            self.api.request(
                "PATCH", f"/api/v1/namespaces/{meta['namespace']}/persistentvolumeclaims/{meta['name']}/status",
                {"status": claim_status}, "application/merge-patch+json")
            self.log(f"claim {key}: {what} ({want})")

    @staticmethod
    def mounted(ns, claim, pod_listing, runtime_pods):
        """Whether a running pod mounts the claim: for pods the runtime runs, one whose
        containers run; for the others, a Running pod bound to a node."""
        for obj in pod_listing:
            meta, spec = obj["metadata"], obj.get("spec") or {}
            if meta["namespace"] != ns or not spec.get("nodeName") or meta.get("deletionTimestamp"):
                continue
            if not any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim
                       for v in spec.get("volumes") or []):
                continue
            pod = runtime_pods.get(meta["uid"])
            if pod is not None:
                if pod.prepared and any(c.running() for c in pod.main):
                    return True
            elif (obj.get("status") or {}).get("phase") == "Running":
                return True
        return False
