"""Unit tests of netpol.py's selection and rendering (no cluster needed; the nft syntax
check runs when nft and root are available). Run: python3 -m unittest discover -s
acceptance-tests/testbed -p 'test_*.py'"""

import os
import shutil
import subprocess
import unittest
import uuid

import netpol
from netpol import PodView, render, rules_for, selector_matches

NS_LABELS = {
    "app": {"kubernetes.io/metadata.name": "app", "team": "a"},
    "other": {"kubernetes.io/metadata.name": "other", "team": "b"},
    "mon": {"kubernetes.io/metadata.name": "mon", "team": "a", "role": "monitoring"},
}
REDIS = PodView("u1", "app", {"app": "redis"}, "10.245.0.10",
                [("redis", "TCP", 6379), ("metrics", "TCP", 9121)])
CLIENT = PodView("u2", "app", {"role": "client"}, "10.245.0.11")
STRANGER = PodView("u3", "app", {"role": "other"}, "10.245.0.12")
FOREIGN_CLIENT = PodView("u4", "other", {"role": "client"}, "10.245.0.13")
PROM = PodView("u5", "mon", {"app": "prometheus"}, "10.245.0.14")
PODS = [REDIS, CLIENT, STRANGER, FOREIGN_CLIENT, PROM]


def policy(spec, ns="app", name="p"):
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


class Selectors(unittest.TestCase):
    def test_match_labels_and_every_operator(self):
        labels = {"a": "1", "b": "2"}
        self.assertTrue(selector_matches({}, labels))
        self.assertFalse(selector_matches(None, labels))
        self.assertTrue(selector_matches({"matchLabels": {"a": "1"}}, labels))
        self.assertFalse(selector_matches({"matchLabels": {"a": "2"}}, labels))
        ex = lambda op, vals=None: {"matchExpressions": [{"key": "b", "operator": op, "values": vals}]}
        self.assertTrue(selector_matches(ex("In", ["2", "3"]), labels))
        self.assertFalse(selector_matches(ex("NotIn", ["2"]), labels))
        self.assertTrue(selector_matches(ex("NotIn", ["2"]), {}))
        self.assertTrue(selector_matches(ex("Exists"), labels))
        self.assertFalse(selector_matches(ex("DoesNotExist"), labels))

    def test_policy_types_default_to_ingress_plus_egress_when_egress_rules_exist(self):
        self.assertEqual(netpol.policy_types(policy({})), {"Ingress"})
        self.assertEqual(netpol.policy_types(policy({"egress": []})), {"Ingress", "Egress"})
        self.assertEqual(netpol.policy_types(policy({"policyTypes": ["Egress"]})), {"Egress"})


class Rules(unittest.TestCase):
    def ingress(self, *policies, target=REDIS):
        return rules_for(target, list(policies), PODS, NS_LABELS)["Ingress"]

    def test_a_pod_no_policy_selects_is_open(self):
        other = policy({"podSelector": {"matchLabels": {"app": "nothing"}}})
        self.assertIsNone(self.ingress(other))
        self.assertIsNone(self.ingress(policy({}, ns="other")))
        self.assertEqual(render(rules_for(REDIS, [other], PODS, NS_LABELS)),
                         "table inet testbed_policy\ndelete table inet testbed_policy\n")

    def test_a_selecting_policy_without_rules_denies_all_ingress(self):
        self.assertEqual(self.ingress(policy({"podSelector": {}})), [])
        script = render(rules_for(REDIS, [policy({"podSelector": {}})], PODS, NS_LABELS))
        self.assertIn("hook input", script)
        self.assertIn('iifname "lo" accept', script)
        self.assertTrue(script.rstrip().endswith("counter drop\n  }\n}".rstrip()))
        self.assertNotIn("hook output", script)

    def test_pod_selector_peers_are_pods_of_the_policy_namespace_only(self):
        rules = self.ingress(policy({"podSelector": {"matchLabels": {"app": "redis"}},
                                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                                                  "ports": [{"port": 6379}]}]}))
        self.assertEqual(rules, ["ip saddr 10.245.0.11 tcp dport 6379 accept"])

    def test_namespace_selector_alone_admits_every_pod_of_those_namespaces(self):
        rules = self.ingress(policy({"podSelector": {},
                                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]}]}))
        self.assertEqual(rules, ["ip saddr { 10.245.0.10, 10.245.0.11, 10.245.0.12, 10.245.0.14 } accept"])

    def test_both_selectors_in_one_peer_are_an_and(self):
        rules = self.ingress(policy({"podSelector": {},
                                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}},
                                                            "podSelector": {"matchLabels": {"role": "client"}}}]}]}))
        self.assertEqual(rules, ["ip saddr 10.245.0.13 accept"])

    def test_named_ports_resolve_on_the_target_and_ranges_use_end_port(self):
        rules = self.ingress(policy({"podSelector": {},
                                     "ingress": [{"ports": [{"port": "metrics"}, {"port": 7000, "endPort": 7010},
                                                            {"port": 53, "protocol": "UDP"}]}]}))
        self.assertEqual(rules, ["tcp dport { 7000-7010, 9121 } accept", "udp dport 53 accept"])
        unknown = self.ingress(policy({"podSelector": {}, "ingress": [{"ports": [{"port": "nope"}]}]}))
        self.assertEqual(unknown, [], "a named port the pod lacks allows nothing")

    def test_ip_blocks_with_exceptions(self):
        rules = self.ingress(policy({"podSelector": {},
                                     "ingress": [{"from": [{"ipBlock": {"cidr": "10.245.0.0/24",
                                                                        "except": ["10.245.0.12/32"]}}]}]}))
        self.assertEqual(rules, ["ip saddr 10.245.0.0/24 ip saddr != 10.245.0.12/32 accept"])

    def test_rules_of_several_policies_add_up(self):
        a = policy({"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]}, name="a")
        b = policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"role": "monitoring"}}}],
                                                   "ports": [{"port": "metrics"}]}]}, name="b")
        self.assertEqual(self.ingress(a, b), ["ip saddr 10.245.0.11 accept",
                                              "ip saddr 10.245.0.14 tcp dport 9121 accept"])

    def test_peers_that_match_no_pod_allow_nothing_rather_than_everything(self):
        rules = self.ingress(policy({"podSelector": {},
                                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "ghost"}}}]}]}))
        self.assertEqual(rules, [])

    def test_egress_isolation_is_separate_from_ingress(self):
        pol = policy({"podSelector": {}, "policyTypes": ["Egress"],
                      "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "redis"}}}]}]})
        rules = rules_for(CLIENT, [pol], PODS, NS_LABELS)
        self.assertIsNone(rules["Ingress"])
        self.assertEqual(rules["Egress"], ["ip daddr 10.245.0.10 accept"])
        script = render(rules)
        self.assertIn("hook output", script)
        self.assertIn('oifname "lo" accept', script)


class FakeApi:
    def __init__(self, policies):
        self.policies = policies

    def get(self, path):
        if path.endswith("networkpolicies"):
            return {"items": self.policies}
        return {"items": [{"metadata": {"name": n, "labels": l}} for n, l in NS_LABELS.items()]}


class FakePod:
    def __init__(self, view, netns):
        self.uid, self.ns, self.ip, self.netns, self.prepared = view.uid, view.ns, view.ip, netns, True
        self.key = f"{view.ns}/{view.uid}"
        self.spec = {"containers": [{"ports": [{"name": n, "protocol": p, "containerPort": c}
                                               for n, p, c in view.ports]}]}
        self.obj = {"metadata": {"labels": dict(view.labels)}}


class EnforcerSync(unittest.TestCase):
    def setUp(self):
        pol = policy({"podSelector": {"matchLabels": {"app": "redis"}},
                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]})
        pol["metadata"].update(uid="p1", resourceVersion="1")
        self.api = FakeApi([pol])
        self.enforcer = netpol.Enforcer(self.api, lambda _: None)
        self.applied = []

        def apply(pod, script):
            self.applied.append((pod.uid, script))
            self.enforcer.applied[pod.uid] = (pod.netns, script)
        self.enforcer.apply = apply
        self.pods = [FakePod(v, f"ns-{v.uid}") for v in (REDIS, CLIENT, STRANGER)]

    def test_a_sync_with_nothing_changed_recomputes_nothing(self):
        self.enforcer.sync(self.pods)
        self.assertEqual(len(self.applied), 3)
        self.enforcer.sync(self.pods)
        self.assertEqual(len(self.applied), 3)

    def test_a_label_a_policy_or_a_remade_namespace_recomputes_the_scripts(self):
        self.enforcer.sync(self.pods)
        # The stranger becomes a client: the redis pod now admits its address.
        self.pods[2].obj["metadata"]["labels"] = {"role": "client"}
        self.enforcer.sync(self.pods)
        self.assertIn(STRANGER.ip, dict(self.applied[3:])["u1"])
        # A policy edited (a new resourceVersion).
        self.api.policies[0]["metadata"]["resourceVersion"] = "2"
        self.enforcer.sync(self.pods)
        self.assertEqual(len(self.applied), 9)
        # A pod whose namespace was remade (or whose apply failed) is not in `applied`.
        self.enforcer.applied.pop("u2")
        self.enforcer.sync(self.pods)
        self.assertEqual(len(self.applied), 12)


@unittest.skipUnless(shutil.which("nft") and shutil.which("ip") and os.geteuid() == 0,
                     "needs nft, ip and root")
class NftAcceptsTheScripts(unittest.TestCase):
    def test_rendered_scripts_load_into_a_namespace(self):
        ns = f"tbtest-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            pol = policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}},
                                                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/16"]}}],
                                       "ports": [{"port": 6379}, {"port": 7000, "endPort": 7001}, {"protocol": "UDP"}]}],
                          "egress": [{}]})
            for script in (render(rules_for(REDIS, [pol], PODS, NS_LABELS)),
                           render(rules_for(REDIS, [], PODS, NS_LABELS))):
                r = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script,
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, f"{r.stderr}\n{script}")
        finally:
            subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    unittest.main()
