"""NetworkPolicy for the pods the test bed's runtime runs, enforced with nftables.

Each pod the runtime runs has a network namespace of its own (see runtime.py). For
every such pod this module renders one nftables table, `inet testbed_policy`, inside
that namespace, from the NetworkPolicies that select the pod:

- a pod no policy selects for a direction has no rule for it: everything is allowed;
- a pod selected by a policy whose policyTypes include Ingress (or Egress) accepts
  (or sends) only what one of those policies' rules allows, and drops the rest;
- a rule's peers are pods (podSelector within the policy's namespace,
  namespaceSelector alone for every pod of the matching namespaces, both for the
  matching pods of the matching namespaces) and ipBlocks (cidr minus except), its
  ports are numbers, ranges (endPort) or the target pod's named container ports; an
  absent `from`/`to` allows every peer, absent `ports` every port;
- traffic on the namespace's loopback is always allowed: the API server's
  port-forward (socat to 127.0.0.1 inside the pod's namespace) and the runtime's
  probes arrive there, as a kubelet's port-forward and probes are never subject to
  NetworkPolicy in a real cluster;
- replies of allowed connections pass (conntrack established/related), as with the
  usual CNI implementations; a connection already open when a policy appears keeps
  working, new ones are judged by the new rules.

The runtime calls `Enforcer.sync` once per tick with the pods it runs; policies,
namespaces (their labels) and pods (their labels and addresses) are listed anew each
time, so changes to any of them take effect within a tick. Rendering is pure and
tested in test_netpol.py; only `apply` touches the system.
"""

import ipaddress
import subprocess

TABLE = "testbed_policy"


# ---------------------------------------------------------------------------
# selectors


def selector_matches(selector, labels):
    """A metav1.LabelSelector against a label map. None matches nothing; {} everything."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def policy_types(policy):
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {"Ingress"} | ({"Egress"} if spec.get("egress") is not None else set())


# ---------------------------------------------------------------------------
# rendering


class PodView:
    """What the rules need to know about a pod."""

    def __init__(self, uid, ns, labels, ip, ports=None):
        self.uid = uid
        self.ns = ns
        self.labels = labels or {}
        self.ip = ip
        # [(name, protocol, number)] of the pod's containers' declared ports
        self.ports = ports or []


def peer_addresses(peer, policy_ns, pods, ns_labels):
    """(pod IPs, [(cidr, [except])]) a NetworkPolicyPeer stands for."""
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return [], [(block["cidr"], list(block.get("except") or []))]
    pod_sel = peer.get("podSelector")
    ns_sel = peer.get("namespaceSelector")
    ips = []
    for p in pods:
        if not p.ip:
            continue
        if ns_sel is not None:
            if not selector_matches(ns_sel, ns_labels.get(p.ns, {})):
                continue
        elif p.ns != policy_ns:
            continue
        if pod_sel is not None and not selector_matches(pod_sel, p.labels):
            continue
        ips.append(p.ip)
    return sorted(set(ips), key=ipaddress.ip_address), []


def resolve_ports(ports, target):
    """[(protocol, "N" or "N-M")] for a rule's ports on the target pod; None is any."""
    if not ports:
        return None
    out = []
    for p in ports:
        proto = (p.get("protocol") or "TCP").lower()
        port = p.get("port")
        if port is None:
            out.append((proto, None))
            continue
        if isinstance(port, str) and not port.isdigit():
            # A named port is the target pod's container port of that name and protocol.
            numbers = [n for name, pr, n in target.ports
                       if name == port and (pr or "TCP").lower() == proto]
            out.extend((proto, str(n)) for n in numbers)
            continue
        end = p.get("endPort")
        out.append((proto, f"{int(port)}-{int(end)}" if end else str(int(port))))
    return out


def _set(items):
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _port_matches(ports):
    """nft match expressions for the ports; [""] when any port matches."""
    if ports is None:
        return [""]
    by_proto = {}
    for proto, spec in ports:
        by_proto.setdefault(proto, set())
        if spec is None:
            by_proto[proto] = None
        elif by_proto[proto] is not None:
            by_proto[proto].add(spec)
    out = []
    for proto in sorted(by_proto):
        specs = by_proto[proto]
        if specs is None:
            out.append(f"meta l4proto {proto}")
        else:
            out.append(f"{proto} dport {_set(sorted(specs, key=lambda s: int(s.split('-')[0])))}")
    return out


def _peer_matches(direction, ips, blocks):
    """nft match expressions for the peers (saddr for ingress, daddr for egress)."""
    side = "saddr" if direction == "Ingress" else "daddr"
    out = []
    v4 = [i for i in ips if ipaddress.ip_address(i).version == 4]
    v6 = [i for i in ips if ipaddress.ip_address(i).version == 6]
    if v4:
        out.append(f"ip {side} {_set(v4)}")
    if v6:
        out.append(f"ip6 {side} {_set(v6)}")
    for cidr, excepts in blocks:
        fam = "ip6" if ipaddress.ip_network(cidr, strict=False).version == 6 else "ip"
        expr = f"{fam} {side} {ipaddress.ip_network(cidr, strict=False)}"
        if excepts:
            norm = [str(ipaddress.ip_network(e, strict=False)) for e in excepts]
            expr += f" {fam} {side} != {_set(norm)}"
        out.append(expr)
    return out


def rules_for(target, policies, pods, ns_labels):
    """{"Ingress": [accept lines] | None, "Egress": ...}: None when no policy isolates
    the pod in that direction (everything allowed)."""
    result = {"Ingress": None, "Egress": None}
    for pol in policies:
        meta, spec = pol["metadata"], pol.get("spec") or {}
        if meta["namespace"] != target.ns:
            continue
        if not selector_matches(spec.get("podSelector") or {}, target.labels):
            continue
        for direction, key, peers_key in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
            if direction not in policy_types(pol):
                continue
            lines = result[direction] if result[direction] is not None else []
            for rule in spec.get(key) or []:
                ports = resolve_ports(rule.get("ports"), target)
                if ports == []:
                    continue  # only named ports the pod does not have: matches nothing
                port_exprs = _port_matches(ports)
                peers = rule.get(peers_key)
                if peers:
                    peer_exprs = []
                    for peer in peers:
                        ips, blocks = peer_addresses(peer, meta["namespace"], pods, ns_labels)
                        peer_exprs.extend(_peer_matches(direction, ips, blocks))
                    if not peer_exprs:
                        continue  # peers that match no address today
                else:
                    peer_exprs = [""]
                for pe in peer_exprs:
                    for po in port_exprs:
                        line = " ".join(x for x in (pe, po, "accept") if x)
                        if line not in lines:
                            lines.append(line)
            result[direction] = lines
    return result


def render(rules):
    """The nftables script for one pod's namespace: replaces the table atomically, or
    removes it when nothing isolates the pod."""
    head = [f"table inet {TABLE}", f"delete table inet {TABLE}"]
    if rules["Ingress"] is None and rules["Egress"] is None:
        return "\n".join(head) + "\n"
    body = [f"table inet {TABLE} {{"]
    for direction, chain, hook, iface in (("Ingress", "ingress", "input", "iifname"),
                                          ("Egress", "egress", "output", "oifname")):
        lines = rules[direction]
        if lines is None:
            continue
        body += [
            f"  chain {chain} {{",
            f"    type filter hook {hook} priority filter; policy accept;",
            f"    {iface} \"lo\" accept",
            "    ct state established,related accept",
        ]
        body += [f"    {line}" for line in lines]
        body += ["    counter drop", "  }"]
    body.append("}")
    return "\n".join(head + body) + "\n"


# ---------------------------------------------------------------------------
# the runtime's side


def pod_view(pod):
    """A PodView of one of the runtime's Pod objects."""
    ports = []
    for c in pod.spec.get("containers") or []:
        for p in c.get("ports") or []:
            ports.append((p.get("name"), p.get("protocol", "TCP"), p["containerPort"]))
    return PodView(pod.uid, pod.ns, pod.obj["metadata"].get("labels") or {}, pod.ip, ports)


class Enforcer:
    def __init__(self, api, log):
        self.api = api
        self.log = log
        self.applied = {}  # uid -> (netns, script)
        self.policies = None  # until the first listing
        self.ns_labels = {}
        # What the scripts last applied were computed from: while it and every pod's
        # namespace stay the same, a sync has nothing to recompute (with a hundred pods
        # the recomputing cost most of a core every tick).
        self.inputs = None

    def refresh(self):
        self.policies = self.api.get("/apis/networking.k8s.io/v1/networkpolicies")["items"]
        self.ns_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {}
                          for n in self.api.get("/api/v1/namespaces")["items"]}

    def script_for(self, pod, views):
        return render(rules_for(pod_view(pod), self.policies, views, self.ns_labels))

    def apply(self, pod, script):
        key = (pod.netns, script)
        if self.applied.get(pod.uid) == key:
            return
        r = subprocess.run(["ip", "netns", "exec", pod.netns, "nft", "-f", "-"],
                           input=script, capture_output=True, text=True)
        if r.returncode != 0:
            self.log(f"{pod.key}: network policy not applied: {r.stderr.strip()}")
            self.applied.pop(pod.uid, None)
            return
        self.applied[pod.uid] = key
        isolated = "isolated" if "chain" in script else "open"
        self.log(f"{pod.key}: network policy applied ({isolated})")

    def pod_prepared(self, pod, all_pods):
        """Called when a pod's namespace is (re)made, before its containers start, so
        a pod a policy isolates never starts open."""
        self.applied.pop(pod.uid, None)
        if self.policies is None:
            self.refresh()
        views = [pod_view(p) for p in all_pods if p.ip and (p.prepared or p is pod)]
        self.apply(pod, self.script_for(pod, views))

    def fingerprint(self, views):
        """Everything rules_for reads, as a comparable value."""
        return (
            tuple((p["metadata"].get("uid"), p["metadata"].get("resourceVersion"))
                  for p in self.policies or []),
            tuple(sorted((ns, tuple(sorted(labels.items())))
                         for ns, labels in self.ns_labels.items())),
            tuple((v.uid, v.ns, tuple(sorted(v.labels.items())), v.ip, tuple(v.ports))
                  for v in views),
        )

    def sync(self, all_pods):
        self.refresh()
        live = [p for p in all_pods if p.prepared and p.ip]
        views = [pod_view(p) for p in live]
        inputs = self.fingerprint(views)
        # A failed apply or a remade namespace leaves its pod out of `applied`.
        current = all(self.applied.get(p.uid, (None,))[0] == p.netns for p in live)
        if inputs != self.inputs or not current:
            for pod in live:
                self.apply(pod, self.script_for(pod, views))
            self.inputs = inputs
        uids = {p.uid for p in live}
        for uid in list(self.applied):
            if uid not in uids:
                del self.applied[uid]
