# Faults on demand, sourced by `testbed` for `testbed fault ...` (it uses testbed's
# functions and variables: kubectl, start/stop, start_apiserver, $run, ...).
# What each fault does, and what a real cluster does differently, is in
# acceptance-tests/README.md ("Faults on demand").
# shellcheck shell=bash

FAULT_LOST_ANN=testbed.terraform-provider-redis/lost
FAULT_EVICT_ANN=testbed.terraform-provider-redis/evict-at
FAULT_LEASE_HOLDER=testbed-fault-lost-node
KWOK_NODE_ANN=kwok.x-k8s.io/node
FAULT_TABLE=testbed_fault

fault_usage() {
  cat <<'EOF'
testbed fault kill-pod NS/POD [CONTAINER] [--signal SIG]
                                   kill a container's main process (default SIGKILL)
testbed fault isolate NS/POD       drop all of the pod's traffic but its loopback
testbed fault heal NS/POD          undo isolate
testbed fault lose-node NODE [--grace SECONDS]
                                   stop the node's pods' processes, mark it NotReady,
                                   evict its pods after SECONDS (default: never; the
                                   pods' own tolerations decide, as in a real cluster)
testbed fault restore-node NODE    the node comes back: Ready, its pods restart
testbed fault apiserver-stop       stop kube-apiserver
testbed fault apiserver-start      start it again (normal flags) and wait for /readyz; after
                                   more than 10 s away, restart the controller-manager and
                                   scheduler too (what their lost leader lease does), and kwok
testbed fault apiserver-tight --max-inflight N [--apf]
                                   restart it with --max-requests-inflight N and
                                   --max-mutating-requests-inflight N (priority and
                                   fairness off unless --apf)
testbed fault apiserver-relax      restart it with the normal limits
testbed fault cut-portforwards [NS/POD]
                                   end every open port-forward stream (of one pod)
EOF
}

# split NS/POD into $fault_ns and $fault_pod
fault_pod_ref() {
  case "${1:-}" in
  */*) fault_ns=${1%%/*} fault_pod=${1#*/} ;;
  *) die "expected NAMESPACE/POD, got '${1:-}'" ;;
  esac
}

# the network namespace the runtime made for a pod: tbp-<sha1(uid)[:10]> (runtime.py)
fault_pod_netns() {
  local uid
  uid="$(kubectl get pod -n "$fault_ns" "$fault_pod" -o 'jsonpath={.metadata.uid}')" ||
    die "no pod $fault_ns/$fault_pod"
  local ns
  ns="tbp-$(printf '%s' "$uid" | sha1sum | cut -c1-10)"
  ip netns exec "$ns" true 2>/dev/null || die "pod $fault_ns/$fault_pod has no network namespace (is it run by the pod runtime?)"
  printf '%s' "$ns"
}

fault_kill_pod() {
  local sig=KILL container="" args=()
  while [ $# -gt 0 ]; do
    case "$1" in
    --signal) sig=${2:?--signal needs a value} && shift 2 ;;
    *) args+=("$1") && shift ;;
    esac
  done
  fault_pod_ref "${args[0]:-}"
  container=${args[1]:-}
  local id
  if [ -n "$container" ]; then
    id="$(kubectl get pod -n "$fault_ns" "$fault_pod" \
      -o "jsonpath={.status.containerStatuses[?(@.name==\"$container\")].containerID}")"
  else
    id="$(kubectl get pod -n "$fault_ns" "$fault_pod" -o 'jsonpath={.status.containerStatuses[0].containerID}')"
  fi
  case "$id" in
  testbed://[0-9]*) ;;
  *) die "$fault_ns/$fault_pod${container:+/$container}: no running process (container id '$id')" ;;
  esac
  kill -s "$sig" "${id#testbed://}"
  log "fault: sent SIG$sig to $fault_ns/$fault_pod${container:+/$container} (pid ${id#testbed://})"
}

fault_isolate() {
  fault_pod_ref "${1:-}"
  local netns
  netns="$(fault_pod_netns)"
  ip netns exec "$netns" nft -f - <<EOF
table inet $FAULT_TABLE
delete table inet $FAULT_TABLE
table inet $FAULT_TABLE {
  chain in {
    type filter hook input priority filter - 10; policy drop;
    iifname "lo" accept
  }
  chain out {
    type filter hook output priority filter - 10; policy drop;
    oifname "lo" accept
  }
}
EOF
  log "fault: $fault_ns/$fault_pod isolated (only its loopback, and so port-forward, still works)"
}

fault_heal() {
  fault_pod_ref "${1:-}"
  local netns
  netns="$(fault_pod_netns)"
  ip netns exec "$netns" nft -f - <<EOF
table inet $FAULT_TABLE
delete table inet $FAULT_TABLE
EOF
  log "fault: $fault_ns/$fault_pod healed"
}

# fault_set_node_conditions NODE lost|back: the node's conditions as the node
# lifecycle controller writes them when a kubelet stops reporting (every condition
# Unknown, reason NodeStatusUnknown), or as a healthy kubelet reports them (Ready
# True, the pressure conditions False); kwok's heartbeats keep them from then on.
fault_set_node_conditions() {
  local node=$1 state=$2 patch
  patch="$(kubectl get node "$node" -o json | python3 -c '
import json, sys, datetime
node, state = json.load(sys.stdin), sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
conds = []
for c in node.get("status", {}).get("conditions") or []:
    if state == "lost":
        new = dict(status="Unknown", reason="NodeStatusUnknown",
                   message="Kubelet stopped posting node status.")
    elif c["type"] == "Ready":
        new = dict(status="True", reason="KubeletReady", message="kubelet is posting ready status",
                   lastHeartbeatTime=now)
    else:
        new = dict(status="False", reason="KubeletHasNo" + c["type"],
                   message="kubelet reports no " + c["type"], lastHeartbeatTime=now)
    if c.get("status") != new["status"]:
        new["lastTransitionTime"] = now
    c.update(new)
    conds.append(c)
print(json.dumps({"status": {"conditions": conds}}))
' "$state")"
  kubectl patch node "$node" --subresource=status --type=merge -p "$patch" >/dev/null
}

fault_lose_node() {
  local node="" grace=""
  while [ $# -gt 0 ]; do
    case "$1" in
    --grace) grace=${2:?--grace needs seconds} && shift 2 ;;
    *) node=$1 && shift ;;
    esac
  done
  [ -n "$node" ] || die "lose-node needs a node name"
  kubectl get node "$node" >/dev/null || die "no node $node"
  # kwok stops renewing the node's lease once another holder has it, and stops
  # watching the node once it lacks kwok's annotation (a heartbeat it had already
  # queued may still land: the runtime sets the conditions back to Unknown).
  kubectl -n kube-node-lease patch lease "$node" --type merge -p "{\"spec\": {
    \"holderIdentity\": \"$FAULT_LEASE_HOLDER\", \"leaseDurationSeconds\": 31536000,
    \"renewTime\": \"$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)\"}}" >/dev/null
  # The runtime stops the node's pods and keeps its conditions Unknown.
  kubectl annotate --overwrite node "$node" "$FAULT_LOST_ANN=true" "$KWOK_NODE_ANN-" >/dev/null
  # What the node lifecycle controller writes once the heartbeats are missed for
  # --node-monitor-grace-period; written at once here so tests need not wait.
  fault_set_node_conditions "$node" lost
  if [ -n "$grace" ]; then
    kubectl annotate --overwrite node "$node" "$FAULT_EVICT_ANN=$(($(date +%s) + grace))" >/dev/null
  fi
  log "fault: node $node lost${grace:+, its pods evicted in ${grace}s}"
}

fault_restore_node() {
  local node=${1:-}
  [ -n "$node" ] || die "restore-node needs a node name"
  kubectl annotate --overwrite node "$node" "$FAULT_LOST_ANN-" "$FAULT_EVICT_ANN-" "$KWOK_NODE_ANN=fake" >/dev/null
  # kwok makes a new lease on its next try (within its renew interval) and manages
  # the node again; Ready at once so tests need not wait for that.
  kubectl -n kube-node-lease delete lease "$node" --ignore-not-found >/dev/null
  fault_set_node_conditions "$node" back
  log "fault: node $node restored"
}

# How long a control plane's controllers keep their leader lease without renewing it:
# kube-controller-manager's and kube-scheduler's default --leader-elect-renew-deadline.
FAULT_RENEW_DEADLINE=10

fault_apiserver_stop() {
  stop kube-apiserver
  date +%s >"$run/apiserver.stopped-at"
}

# The API server back with its normal flags. After an outage longer than the renew
# deadline, a real control plane's controller-manager and scheduler have lost their
# leader lease and exited, and the kubelet has started them again: they come back with
# fresh caches. The bed runs them without leader election (under its load a missed
# renewal would restart them mid-test), so this does what the lost lease does. Left
# running instead, their watches stay broken for up to a minute after the API server is
# back (client-go backs a refused watch off up to 30 s, with as much jitter again), and
# a pod created just before the outage waits that long for the scheduler to see its
# volume bound. kwok is restarted too: it learns where a pod's port-forward goes from a
# PortForward object the runtime writes when the pod starts (a kubelet needs none), and
# its watch of those stays broken as long, so port-forwards to pods started after the
# outage would end at once.
fault_apiserver_start() {
  rm -f "$run/apiserver.extra-args"
  local stopped_at=""
  [ -f "$run/apiserver.stopped-at" ] && stopped_at="$(cat "$run/apiserver.stopped-at")"
  rm -f "$run/apiserver.stopped-at"
  start_apiserver
  if [ -n "$stopped_at" ] && [ $(($(date +%s) - stopped_at)) -gt "$FAULT_RENEW_DEADLINE" ]; then
    stop kube-scheduler
    stop kube-controller-manager
    stop kwok
    start_controller_manager
    start_scheduler
    start_kwok
    log "fault: the API server was away longer than the controllers' renew deadline (${FAULT_RENEW_DEADLINE}s): controller-manager and scheduler restarted, as after a lost leader lease, and kwok with fresh watches"
  fi
}

fault_apiserver_restart() {
  stop kube-apiserver
  start_apiserver
}

fault_apiserver_tight() {
  local n="" apf=false
  while [ $# -gt 0 ]; do
    case "$1" in
    --max-inflight) n=${2:?--max-inflight needs a number} && shift 2 ;;
    --apf) apf=true && shift ;;
    *) die "apiserver-tight: unknown argument $1" ;;
    esac
  done
  case "$n" in '' | *[!0-9]*) die "apiserver-tight needs --max-inflight N" ;; esac
  printf '%s\n' "--max-requests-inflight=$n" "--max-mutating-requests-inflight=$n" \
    "--enable-priority-and-fairness=$apf" >"$run/apiserver.extra-args"
  fault_apiserver_restart
  log "fault: kube-apiserver restarted with in-flight limits of $n (priority and fairness: $apf)"
}

# Port-forward streams are relay processes kwok starts in the pod's network namespace
# (testbed-forward, built from forward.c; socat where it could not be built: runtime.py,
# ensure_port_forward); ending one ends its stream.
fault_cut_portforwards() {
  local want_netns=""
  if [ $# -gt 0 ]; then
    fault_pod_ref "$1"
    want_netns="$(fault_pod_netns)"
  fi
  local kwok_pid pid n=0
  kwok_pid="$(cat "$(pidfile kwok)" 2>/dev/null)" || die "kwok is not running"
  for pid in $(ps -o pid= --ppid "$kwok_pid"); do
    case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in
    */testbed-forward-*" "* | "socat STDIO TCP:127.0.0.1:"*) ;;
    *) continue ;;
    esac
    if [ -n "$want_netns" ] && [ "$(ip netns identify "$pid" 2>/dev/null)" != "$want_netns" ]; then
      continue
    fi
    kill -TERM "$pid" 2>/dev/null && n=$((n + 1))
  done
  log "fault: $n port-forward stream(s) cut"
}

cmd_fault() {
  local what=${1:-}
  [ $# -gt 0 ] && shift
  case "$what" in
  kill-pod) fault_kill_pod "$@" ;;
  isolate) fault_isolate "$@" ;;
  heal) fault_heal "$@" ;;
  lose-node) fault_lose_node "$@" ;;
  restore-node) fault_restore_node "$@" ;;
  apiserver-stop) fault_apiserver_stop ;;
  apiserver-start) fault_apiserver_start ;;
  apiserver-tight) fault_apiserver_tight "$@" ;;
  apiserver-relax)
    rm -f "$run/apiserver.extra-args"
    fault_apiserver_restart
    ;;
  cut-portforwards) fault_cut_portforwards "$@" ;;
  *)
    fault_usage
    exit 2
    ;;
  esac
}
