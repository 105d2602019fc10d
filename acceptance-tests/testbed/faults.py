"""The pod runtime's side of `testbed fault lose-node` (see faults.sh).

A node marked lost (annotation LOST on the Node) behaves as a machine that went
away: the runtime stops every process of the pods bound to it, removes their network
namespaces, and reports nothing more about them, as a dead kubelet would not. It
does what the node lifecycle controller does once the node's heartbeats are missed
(after --node-monitor-grace-period, which a test should not have to wait): every
node condition Unknown (reason NodeStatusUnknown), kept so against a late heartbeat
kwok had already queued, and the pods' Ready condition False. The controller then
taints the node node.kubernetes.io/unreachable (NoSchedule and NoExecute).

With EVICT_AT (unix seconds) set by `--grace`, the runtime deletes the node's pods
once that time has passed, as the taint-eviction controller does when a pod's
toleration of node.kubernetes.io/unreachable runs out: a DisruptionTarget condition
(reason DeletionByTaintManager), then an ordinary delete. The pods then stay
Terminating, since no kubelet is left to confirm, until the node comes back (`fault
restore-node`: the runtime finishes the deletion and restarts the rest) or is
deleted (the pod garbage collector removes pods of nodes that no longer exist).
Pods that tolerate node.kubernetes.io/unreachable:NoExecute forever (DaemonSet
pods) are not evicted, as in a real cluster.
"""

import json
import time

LOST = "testbed.terraform-provider-redis/lost"
EVICT_AT = "testbed.terraform-provider-redis/evict-at"
UNREACHABLE = "node.kubernetes.io/unreachable"


def tolerates_forever(pod_spec):
    for t in pod_spec.get("tolerations") or []:
        if t.get("effect") not in (None, "", "NoExecute"):
            continue
        if (t.get("operator") == "Exists" and not t.get("key")) or t.get("key") == UNREACHABLE:
            if t.get("tolerationSeconds") is None:
                return True
    return False


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def unknown_conditions(node):
    """The node's conditions as the node lifecycle controller writes them for a node
    whose kubelet stopped posting status; None when they already are."""
    conds = (node.get("status") or {}).get("conditions") or []
    if all(c.get("status") == "Unknown" for c in conds):
        return None
    out = []
    for c in conds:
        c = dict(c)
        if c.get("status") != "Unknown":
            c["lastTransitionTime"] = now_rfc3339()
        c.update(status="Unknown", reason="NodeStatusUnknown",
                 message="Kubelet stopped posting node status.")
        out.append(c)
    return out


class LostNodes:
    def __init__(self, api, log):
        self.api = api
        self.log = log
        self.lost = {}  # node name -> evict-at (float) or None
        self.evicted = set()
        self.marked = set()  # pods marked not ready

    def refresh(self):
        lost = {}
        for node in self.api.get("/api/v1/nodes")["items"]:
            ann = node["metadata"].get("annotations") or {}
            if ann.get(LOST) == "true":
                conds = unknown_conditions(node)
                if conds is not None:
                    self.api.request("PATCH", f"/api/v1/nodes/{node['metadata']['name']}/status",
                                     {"status": {"conditions": conds}}, "application/merge-patch+json")
                try:
                    lost[node["metadata"]["name"]] = float(ann[EVICT_AT]) if EVICT_AT in ann else None
                except ValueError:
                    lost[node["metadata"]["name"]] = None
        for name in set(lost) - set(self.lost):
            self.log(f"node {name} lost: its pods' processes stop and nothing reports them")
        for name in set(self.lost) - set(lost):
            self.log(f"node {name} is back")
            self.marked.clear()  # pods of a node lost again are marked again
        self.lost = lost

    def holds(self, obj, pod):
        """True when the pod is on a lost node (its processes are stopped once)."""
        if obj["spec"].get("nodeName") not in self.lost:
            return False
        if pod is not None and pod.prepared:
            self.log(f"{pod.key}: node {obj['spec']['nodeName']} lost, processes stopped")
            pod.teardown()
        if pod is not None:
            pod.last_status = None  # report afresh once the node is back
        meta = obj["metadata"]
        ready = [c for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready" and c.get("status") == "True"]
        if ready and meta["uid"] not in self.marked:
            cond = dict(ready[0], status="False", lastTransitionTime=now_rfc3339())
            try:
                self.api.request("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                                 {"status": {"conditions": [cond]}},
                                 "application/strategic-merge-patch+json", ok404=True)
                self.marked.add(meta["uid"])
            except RuntimeError as e:
                self.log(f"{meta['namespace']}/{meta['name']}: cannot mark not ready: {e}")
        return True

    def evict(self, listing):
        now = time.time()
        for obj in listing:
            meta, spec = obj["metadata"], obj["spec"]
            at = self.lost.get(spec.get("nodeName"), None)
            if at is None or now < at or meta.get("deletionTimestamp") or meta["uid"] in self.evicted:
                continue
            if tolerates_forever(spec):
                continue
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                    "message": "Taint manager: deleting due to NoExecute taint",
                    "lastTransitionTime": now_rfc3339()}
            try:
                self.api.request("PATCH", path + "/status",
                                 {"status": {"conditions": [cond]}},
                                 "application/strategic-merge-patch+json", ok404=True)
                self.api.request("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions",
                                                  "preconditions": {"uid": meta["uid"]}}, ok404=True)
                self.evicted.add(meta["uid"])
                self.log(f"{meta['namespace']}/{meta['name']}: evicted from lost node {spec['nodeName']}")
            except RuntimeError as e:
                self.log(f"{meta['namespace']}/{meta['name']}: eviction failed: {e}")
