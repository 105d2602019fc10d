#!/usr/bin/env bash
# Side-by-side figures (a benchmark, run by hand, nothing asserted): this provider against
# the Kubernetes provider v3.2.1 (hashicorp/terraform-provider-kubernetes) managing the
# same Kubernetes objects, once as `kubernetes_manifest` resources and once as the typed
# resources (kubernetes_config_map_v1, kubernetes_secret_v1, kubernetes_stateful_set_v1,
# kubernetes_service_v1, kubernetes_pod_disruption_budget_v1, kubernetes_network_policy_v1).
# One redis_deployment with default settings makes 8 objects: a ConfigMap, two Secrets
# (internal files, client password), a StatefulSet with a volume claim template, a
# ClusterIP and a headless Service, a PodDisruptionBudget and a NetworkPolicy
# (src/k8s/objects/deployment.rs); the peers' configurations declare those 8 per deployment.
#
# Figures (medians of PEERS_RUNS runs, default 3; ratio = ours / theirs):
#   - exec -> handshake line with AutoMTLS, and RSS then (benches/startup.rs on each binary);
#   - `terraform providers schema -json`;
#   - `terraform plan` of 10 and of 100 new deployments (nothing exists yet: a plan needs
#     no capacity on the bed, so wait_for_ready keeps its default);
#   - `terraform apply` of 10 deployments (pods really start on the test bed; each side
#     waits for its pods: wait_for_ready, wait_for_rollout, wait { rollout = true }), then a
#     refreshing `plan` of those 10 (no changes) and `destroy`. One apply per variant.
#   - scale (issue 15's goal: a refreshing plan of 100 deployments under 3 s warm): 100
#     deployments of one replica each applied, the refreshing `plan` of them (one first,
#     not counted, then the median of PEERS_RUNS), and their destroy; ours and the typed
#     resources (the manifest variant too with PEERS_SCALE_MANIFEST=1: its refresh of 800
#     objects takes minutes).
# Plans and applies need the test bed (`acceptance-tests/testbed/testbed up`); without it
# only start-up and schema are printed. Each variant works in its own namespace
# (peers-bench-*), deleted at the end.
#
# The Kubernetes provider is built once from ../shared/vendor (Go modules from the Go proxy)
# into ~/.cache/terraform-provider-redis/tools/terraform-provider-kubernetes-v3.2.1/ and
# reused. Knobs: PEERS_RUNS, PEERS_STEPS (default "startup schema plan apply scale"; e.g.
# PEERS_STEPS=scale for the scale figures alone), PEERS_SKIP_APPLY=1 (no apply, no scale),
# PEERS_SCALE (deployments of the scale step, default 100), PEERS_SCALE_VARIANTS (default
# "ours typed"), PEERS_SCALE_MANIFEST=1, PEERS_VARIANTS (the plan and apply steps' variants,
# default "ours manifest typed"), PEERS_PLAN_SIZES (default "10 100"),
# PEERS_VENDOR (the vendor directory), PROVIDER_BINARY (ours as built elsewhere),
# TERRAFORM (default /usr/local/bin/terraform),
# CARGO_TARGET_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
unset TF_LOG TF_LOG_PATH TF_LOG_PROVIDER TF_REATTACH_PROVIDERS TF_CLI_ARGS TF_CLI_ARGS_plan \
  TF_CLI_ARGS_apply TF_PLUGIN_CACHE_DIR

runs=${PEERS_RUNS:-3}
steps=" ${PEERS_STEPS:-startup schema plan apply scale} "
step() { [[ $steps == *" $1 "* ]]; }
scale=${PEERS_SCALE:-100}
# 1: every deployment has one replica (the scale step); otherwise 1 for odd, 3 for even.
one_replica=0
terraform=${TERRAFORM:-/usr/local/bin/terraform}
vendor=${PEERS_VENDOR:-$root/../shared/vendor}
peer_version=3.2.1
tools=$HOME/.cache/terraform-provider-redis/tools
peer_dir=$tools/terraform-provider-kubernetes-v$peer_version
peer_bin=$peer_dir/terraform-provider-kubernetes_v$peer_version

say() { echo "peers.sh: $*" >&2; }

# --- the peer binary ---------------------------------------------------------------------
build_peer() {
  local archive=$vendor/terraform-provider-kubernetes-$peer_version-src.tar.gz
  [[ -f $archive ]] || { say "no $archive"; exit 1; }
  command -v go >/dev/null || { say "go is needed to build the Kubernetes provider"; exit 1; }
  local work
  work=$(mktemp -d)
  say "building the Kubernetes provider v$peer_version (once; cached in $peer_dir)"
  tar -xzf "$archive" -C "$work"
  local t0=$SECONDS
  mkdir -p "$peer_dir"
  # A throwaway build cache (about 1.5 GB): only the binary is kept.
  (cd "$work/terraform-provider-kubernetes-$peer_version" &&
    GOCACHE=$work/gocache CGO_ENABLED=0 nice -n "${PEERS_NICE:-0}" \
      go build -trimpath -ldflags "-s -w" -o "$peer_bin.tmp" .)
  mv "$peer_bin.tmp" "$peer_bin"
  echo "built in $((SECONDS - t0)) s on $(nproc) cores" >"$peer_dir/BUILD"
  chmod -R u+w "$work" && rm -rf "$work"
}
[[ -x $peer_bin ]] || build_peer

# --- our binary (the release build, as benches/run.sh measures it) -------------------------
# PROVIDER_BINARY measures a given build instead (as benches/common/terraform.sh).
if [[ -n ${PROVIDER_BINARY:-} ]]; then
  ours_bin=$PROVIDER_BINARY
else
  ours_bin=$(cargo build --release -p terraform-provider-redis --bin terraform-provider-redis \
    --message-format=json-render-diagnostics |
    grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)
fi
[[ -x $ours_bin ]] || { say "cargo reported no provider executable"; exit 1; }
ours_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

work=$(mktemp -d)
namespaces=()
cleanup() {
  local ns
  for ns in "${namespaces[@]}"; do
    # Waits, so that the next run can create them again.
    "$kubectl" --kubeconfig "$kubeconfig" delete namespace "$ns" --timeout=180s >/dev/null 2>&1 ||
      say "could not delete namespace $ns"
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A filesystem mirror holding both providers, as users install them.
mirror=$work/mirror
install_into_mirror() { # source version file-name binary
  local dir=$mirror/registry.terraform.io/$1/$2/linux_amd64
  mkdir -p "$dir"
  cp "$4" "$dir/$3"
}
install_into_mirror redis-k8s/redis "$ours_version" "terraform-provider-redis_v$ours_version" "$ours_bin"
install_into_mirror hashicorp/kubernetes "$peer_version" "terraform-provider-kubernetes_v$peer_version" "$peer_bin"
cat >"$work/cli.tfrc" <<CONF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/redis-k8s/redis", "registry.terraform.io/hashicorp/kubernetes"]
  }
  direct {
    exclude = ["registry.terraform.io/redis-k8s/redis", "registry.terraform.io/hashicorp/kubernetes"]
  }
}
CONF
export TF_CLI_CONFIG_FILE=$work/cli.tfrc

# --- the test bed ------------------------------------------------------------------------
kubeconfig=$(acceptance-tests/testbed/testbed env 2>/dev/null | sed -n 's/^KUBECONFIG=//p' | tr -d "\"'" || true)
kubectl=$tools/kubernetes-v1.34.4/kubectl
bed=no
if [[ -n $kubeconfig && -f $kubeconfig && -x $kubectl ]] &&
  "$kubectl" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; then
  bed=yes
fi

# --- configurations ----------------------------------------------------------------------
# A deployment's replicas: 1 for odd, 3 for even indices (as benches/provider.rs plans).
replicas() { if ((one_replica == 0 && $1 % 2 == 0)); then echo 3; else echo 1; fi; }

header() { # provider-name
  if [[ $1 == redis ]]; then
    cat <<HCL
terraform {
  required_providers {
    redis = { source = "redis-k8s/redis", version = "$ours_version" }
  }
}
provider "redis" {
  kubernetes = { config_path = "$kubeconfig" }
}
HCL
  else
    cat <<HCL
terraform {
  required_providers {
    kubernetes = { source = "hashicorp/kubernetes", version = "$peer_version" }
  }
}
provider "kubernetes" {
  config_path = "$kubeconfig"
}
HCL
  fi
}

ours_tf() { # count namespace
  header redis
  local i
  for ((i = 1; i <= $1; i++)); do
    cat <<HCL
resource "redis_deployment" "d$i" {
  name      = "r$i"
  namespace = "$2"
  replicas  = $(replicas "$i")
}
HCL
  done
}

# Shared by both peer variants: what differs per deployment, as locals.
peer_locals() { # count namespace
  cat <<HCL
locals {
  ns  = "$2"
  ids = { for i in range(1, $(($1 + 1))) : "r\${i}" => { replicas = $one_replica == 0 && i % 2 == 0 ? 3 : 1 } }
  labels = { for k, _ in local.ids : k => {
    "app.kubernetes.io/name"       = "redis"
    "app.kubernetes.io/instance"   = k
    "app.kubernetes.io/component"  = "server"
    "app.kubernetes.io/managed-by" = "terraform"
  } }
  selector = { for k, _ in local.ids : k => {
    "app.kubernetes.io/name"      = "redis"
    "app.kubernetes.io/instance"  = k
    "app.kubernetes.io/component" = "server"
  } }
  redis_conf = { for k, _ in local.ids : k => join("\\n", [
    "port 6379", "bind 0.0.0.0", "dir /data", "appendonly yes",
    "aclfile /etc/redis-internal/users.acl", "include /etc/redis-internal/replication.conf",
  ]) }
  probe = ["sh", "-c", "redis-cli --no-auth-warning --user probe --pass probe ping | grep -q PONG"]
}
HCL
}

# One resource per deployment (for_each over local.ids) with its metadata; the rest of the
# body on stdin. typed: a `metadata` block; manifest: apiVersion, kind and metadata inside
# `manifest`, whose other fields come on stdin.
typed_resource() { # type label name-expression
  cat <<HCL
resource "$1" "$2" {
  for_each = local.ids
  metadata {
    name      = $3
    namespace = local.ns
    labels    = local.labels[each.key]
  }
HCL
  cat
  echo "}"
}
manifest_resource() { # label apiVersion kind name-expression [extra resource-level HCL]
  cat <<HCL
resource "kubernetes_manifest" "$1" {
  for_each = local.ids
${5:-}
  manifest = {
    apiVersion = "$2", kind = "$3"
    metadata   = { name = $4, namespace = local.ns, labels = local.labels[each.key] }
HCL
  cat
  echo "  }"
  echo "}"
}

# The objects' contents shared by both peer variants, as locals.
secrets_locals() {
  cat <<'HCL'
locals {
  internal_data = {
    "users.acl"            = "user default off\nuser admin on >admin ~* &* +@all\nuser probe on >probe +ping\n"
    "replication.conf"     = "masterauth replication\n"
    "admin-password"       = "admin"
    "replication-password" = "replication"
  }
  primary_selector = { for k, _ in local.ids : k => merge(local.selector[k], { "statefulset.kubernetes.io/pod-name" = "${k}-0" }) }
}
HCL
}

manifest_tf() { # count namespace
  header kubernetes
  peer_locals "$@"
  secrets_locals
  manifest_resource config v1 ConfigMap '"${each.key}-config"' <<'HCL'
    data = { "redis.conf" = local.redis_conf[each.key] }
HCL
  manifest_resource internal v1 Secret '"${each.key}-internal"' <<'HCL'
    type = "Opaque"
    data = { for k, v in local.internal_data : k => base64encode(v) }
HCL
  manifest_resource password v1 Secret '"${each.key}-password"' <<'HCL'
    type = "Opaque"
    data = { password = base64encode("client-${each.key}") }
HCL
  manifest_resource statefulset apps/v1 StatefulSet each.key \
    '  depends_on = [kubernetes_manifest.config, kubernetes_manifest.internal, kubernetes_manifest.password]
  wait {
    rollout = true
  }
  timeouts {
    create = "10m"
  }' <<'HCL'
    spec = {
      replicas            = each.value.replicas
      serviceName         = "${each.key}-headless"
      podManagementPolicy = "Parallel"
      updateStrategy      = { type = "RollingUpdate" }
      selector            = { matchLabels = local.selector[each.key] }
      template = {
        metadata = { labels = local.labels[each.key] }
        spec = {
          terminationGracePeriodSeconds = 30
          automountServiceAccountToken  = false
          securityContext = {
            runAsNonRoot = true, runAsUser = 999, runAsGroup = 999, fsGroup = 999
            seccompProfile = { type = "RuntimeDefault" }
          }
          containers = [{
            name    = "redis"
            image   = "redis:7.2-alpine"
            command = ["redis-server", "/etc/redis/redis.conf"]
            ports   = [{ name = "redis", containerPort = 6379, protocol = "TCP" }]
            readinessProbe = {
              exec                = { command = local.probe }
              initialDelaySeconds = 1, periodSeconds = 2, timeoutSeconds = 2
              successThreshold    = 1, failureThreshold = 3
            }
            livenessProbe = {
              tcpSocket           = { port = "redis" }
              initialDelaySeconds = 10, periodSeconds = 10, timeoutSeconds = 2
              successThreshold    = 1, failureThreshold = 6
            }
            startupProbe = {
              exec          = { command = local.probe }
              periodSeconds = 2, timeoutSeconds = 2, successThreshold = 1, failureThreshold = 300
            }
            securityContext = {
              runAsNonRoot = true, runAsUser = 999, runAsGroup = 999
              allowPrivilegeEscalation = false, readOnlyRootFilesystem = true
              capabilities = { drop = ["ALL"] }
            }
            volumeMounts = [
              { name = "data", mountPath = "/data" },
              { name = "config", mountPath = "/etc/redis", readOnly = true },
              { name = "internal", mountPath = "/etc/redis-internal", readOnly = true },
              { name = "tmp", mountPath = "/tmp" },
            ]
          }]
          volumes = [
            { name = "config", configMap = { name = "${each.key}-config" } },
            { name = "internal", secret = { secretName = "${each.key}-internal", defaultMode = 288 } },
            { name = "tmp", emptyDir = {} },
          ]
        }
      }
      volumeClaimTemplates = [{
        apiVersion = "v1", kind = "PersistentVolumeClaim"
        metadata   = { name = "data", labels = local.selector[each.key] }
        spec = {
          accessModes = ["ReadWriteOnce"]
          resources   = { requests = { storage = "1Gi" } }
        }
      }]
    }
HCL
  manifest_resource service v1 Service each.key <<'HCL'
    spec = {
      type     = "ClusterIP"
      selector = local.primary_selector[each.key]
      ports    = [{ name = "redis", port = 6379, targetPort = "redis", protocol = "TCP" }]
    }
HCL
  manifest_resource headless v1 Service '"${each.key}-headless"' <<'HCL'
    spec = {
      clusterIP                = "None"
      publishNotReadyAddresses = true
      selector                 = local.selector[each.key]
      ports                    = [{ name = "redis", port = 6379, targetPort = "redis", protocol = "TCP" }]
    }
HCL
  manifest_resource pdb policy/v1 PodDisruptionBudget each.key <<'HCL'
    spec = { maxUnavailable = 1, selector = { matchLabels = local.selector[each.key] } }
HCL
  manifest_resource network_policy networking.k8s.io/v1 NetworkPolicy each.key <<'HCL'
    spec = {
      podSelector = { matchLabels = local.selector[each.key] }
      policyTypes = ["Ingress", "Egress"]
      ingress = [{
        from  = [{ podSelector = {} }, { podSelector = { matchLabels = local.selector[each.key] } }]
        ports = [{ protocol = "TCP", port = 6379 }]
      }]
      egress = [
        { ports = [{ protocol = "UDP", port = 53 }, { protocol = "TCP", port = 53 }] },
        {
          to    = [{ podSelector = { matchLabels = local.selector[each.key] } }]
          ports = [{ protocol = "TCP", port = 6379 }]
        },
      ]
    }
HCL
}

# A `port`/`ports` block: name port protocol [target]
typed_port() {
  printf '    %s {\n' "$1"
  [[ -n ${5:-} ]] && printf '      name        = "%s"\n      target_port = "%s"\n' "$5" "$5"
  printf '      port        = %s\n      protocol    = "%s"\n    }\n' "$2" "$3"
}

typed_tf() { # count namespace
  header kubernetes
  peer_locals "$@"
  secrets_locals
  typed_resource kubernetes_config_map_v1 config '"${each.key}-config"' <<'HCL'
  data = { "redis.conf" = local.redis_conf[each.key] }
HCL
  typed_resource kubernetes_secret_v1 internal '"${each.key}-internal"' <<'HCL'
  type = "Opaque"
  data = local.internal_data
HCL
  typed_resource kubernetes_secret_v1 password '"${each.key}-password"' <<'HCL'
  type = "Opaque"
  data = { password = "client-${each.key}" }
HCL
  typed_resource kubernetes_stateful_set_v1 redis each.key <<'HCL'
  wait_for_rollout = true
  # The pods mount these: without the dependency, Terraform may spend its parallelism on
  # StatefulSets waiting for pods that wait for their files (a 10-minute deadlock).
  depends_on = [kubernetes_config_map_v1.config, kubernetes_secret_v1.internal, kubernetes_secret_v1.password]
  timeouts {
    create = "10m"
  }
  spec {
    replicas              = each.value.replicas
    service_name          = "${each.key}-headless"
    pod_management_policy = "Parallel"
    update_strategy {
      type = "RollingUpdate"
    }
    selector {
      match_labels = local.selector[each.key]
    }
    template {
      metadata {
        labels = local.labels[each.key]
      }
      spec {
        termination_grace_period_seconds = 30
        automount_service_account_token  = false
        security_context {
          run_as_non_root = true
          run_as_user     = 999
          run_as_group    = 999
          fs_group        = 999
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name    = "redis"
          image   = "redis:7.2-alpine"
          command = ["redis-server", "/etc/redis/redis.conf"]
          port {
            name           = "redis"
            container_port = 6379
            protocol       = "TCP"
          }
          readiness_probe {
            exec {
              command = local.probe
            }
            initial_delay_seconds = 1
            period_seconds        = 2
            timeout_seconds       = 2
            success_threshold     = 1
            failure_threshold     = 3
          }
          liveness_probe {
            tcp_socket {
              port = "redis"
            }
            initial_delay_seconds = 10
            period_seconds        = 10
            timeout_seconds       = 2
            success_threshold     = 1
            failure_threshold     = 6
          }
          startup_probe {
            exec {
              command = local.probe
            }
            period_seconds    = 2
            timeout_seconds   = 2
            success_threshold = 1
            failure_threshold = 300
          }
          security_context {
            run_as_non_root            = true
            run_as_user                = 999
            run_as_group               = 999
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }
          dynamic "volume_mount" {
            for_each = { data = "/data", config = "/etc/redis", internal = "/etc/redis-internal", tmp = "/tmp" }
            content {
              name       = volume_mount.key
              mount_path = volume_mount.value
              read_only  = contains(["config", "internal"], volume_mount.key)
            }
          }
        }
        volume {
          name = "config"
          config_map {
            name = "${each.key}-config"
          }
        }
        volume {
          name = "internal"
          secret {
            secret_name  = "${each.key}-internal"
            default_mode = "0440"
          }
        }
        volume {
          name = "tmp"
          empty_dir {}
        }
      }
    }
    volume_claim_template {
      metadata {
        name   = "data"
        labels = local.selector[each.key]
      }
      spec {
        access_modes = ["ReadWriteOnce"]
        resources {
          requests = { storage = "1Gi" }
        }
      }
    }
  }
HCL
  {
    printf '  spec {\n    type     = "ClusterIP"\n    selector = local.primary_selector[each.key]\n'
    typed_port port 6379 TCP "" redis
    printf '  }\n'
  } | typed_resource kubernetes_service_v1 service each.key
  {
    printf '  spec {\n    cluster_ip                  = "None"\n    publish_not_ready_addresses = true\n'
    printf '    selector                    = local.selector[each.key]\n'
    typed_port port 6379 TCP "" redis
    printf '  }\n'
  } | typed_resource kubernetes_service_v1 headless '"${each.key}-headless"'
  typed_resource kubernetes_pod_disruption_budget_v1 pdb each.key <<'HCL'
  spec {
    max_unavailable = "1"
    selector {
      match_labels = local.selector[each.key]
    }
  }
HCL
  {
    cat <<'HCL'
  spec {
    pod_selector {
      match_labels = local.selector[each.key]
    }
    policy_types = ["Ingress", "Egress"]
    ingress {
      from {
        pod_selector {}
      }
      from {
        pod_selector {
          match_labels = local.selector[each.key]
        }
      }
HCL
    typed_port ports '"6379"' TCP
    printf '    }\n    egress {\n'
    typed_port ports '"53"' UDP
    typed_port ports '"53"' TCP
    printf '    }\n    egress {\n      to {\n        pod_selector {\n          match_labels = local.selector[each.key]\n        }\n      }\n'
    typed_port ports '"6379"' TCP
    printf '    }\n  }\n'
  } | typed_resource kubernetes_network_policy_v1 policy each.key
}

# Resources per deployment in each variant (what "N to add" must say).
per_deployment() { case $1 in ours) echo 1 ;; *) echo 8 ;; esac; }

# A working directory with the configuration of `variant` for `count` deployments, initialised.
prepare() { # variant count namespace -> prints the directory
  local dir=$work/$1-$2
  mkdir -p "$dir"
  "${1}_tf" "$2" "$3" >"$dir/main.tf"
  "$terraform" fmt -no-color "$dir/main.tf" >/dev/null
  (cd "$dir" && "$terraform" init -input=false -no-color >"$dir/init.log" 2>&1) || {
    say "terraform init failed in $dir:"
    cat "$dir/init.log" >&2
    exit 1
  }
  echo "$dir"
}

# Runs `terraform args...` in `dir`, prints its wall time in ms; fails loudly.
timed() { # dir expect-regex args...
  local dir=$1 expect=$2
  shift 2
  local t0 t1
  t0=$(date +%s%N)
  if ! (cd "$dir" && "$terraform" "$@" -no-color >"$dir/last.log" 2>&1); then
    say "terraform $* failed in $dir:"
    tail -n 40 "$dir/last.log" >&2
    return 1
  fi
  t1=$(date +%s%N)
  if [[ -n $expect ]] && ! grep -Eq "$expect" "$dir/last.log"; then
    say "terraform $* in $dir did not print /$expect/:"
    tail -n 40 "$dir/last.log" >&2
    return 1
  fi
  echo $(((t1 - t0) / 1000000))
}

median() { # values... -> the median
  printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {
    if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Median of `runs` timings of `terraform args...` in dir.
median_of() { # dir expect args...
  local samples=() i ms
  for ((i = 0; i < runs; i++)); do
    ms=$(timed "$@") || { echo "-"; return 0; }
    samples+=("$ms")
  done
  median "${samples[@]}"
}

declare -A fig # "figure|variant" -> median (ms or MiB)
figures=()
record() { # figure variant value
  [[ " ${figures[*]} " == *" $1 "* ]] || figures+=("$1")
  fig["$1|$2"]=$3
  say "  $1 $2: $3"
}

# --- 1. start-up: benches/startup.rs on each binary ----------------------------------------
step startup && say "start-up (benches/startup.rs, ${PEERS_SPAWNS:-20} starts each)"
startup_line() { # binary -> the AutoMTLS line of benches/startup.rs
  local out
  if ! out=$(PROVIDER_BINARY=$1 BENCH_SPAWNS=${PEERS_SPAWNS:-20} \
    cargo bench -q -p terraform-provider-redis --bench startup 2>"$work/startup.err"); then
    say "benches/startup.rs failed on $1:"
    tail -n 20 "$work/startup.err" >&2
  fi
  grep 'AutoMTLS' <<<"$out" || true
}
# The peer gets a copy of our binary's directory layout: nothing, it is measured as built.
step startup && for side in ours peer; do
  if [[ $side == ours ]]; then bin=$mirror/registry.terraform.io/redis-k8s/redis/$ours_version/linux_amd64/terraform-provider-redis_v$ours_version; else bin=$peer_bin; fi
  line=$(startup_line "$bin")
  wall=$(sed -n 's/.*handshake line \([0-9.]*\) ms.*/\1/p' <<<"$line")
  rss=$(sed -n 's/.*RSS then \([0-9.]*\) MiB.*/\1/p' <<<"$line")
  for v in $([[ $side == ours ]] && echo ours || echo "manifest typed"); do
    record "exec->handshake(ms)" "$v" "${wall:--}"
    record "RSS-at-handshake(MiB)" "$v" "${rss:--}"
  done
done

# --- 2. schema, plans, apply -----------------------------------------------------------------
read -r -a variants <<<"${PEERS_VARIANTS:-ours manifest typed}"
read -r -a plan_sizes <<<"${PEERS_PLAN_SIZES:-10 100}"
step schema && for v in ours manifest; do # typed shares the manifest variant's provider
  dir=$(prepare "$v" 10 "peers-bench-$v")
  say "providers schema -json ($v)"
  ms=$(median_of "$dir" '' providers schema -json)
  record "providers-schema-json(ms)" "$v" "$ms"
  [[ $v == manifest ]] && record "providers-schema-json(ms)" typed "$ms"
done

if [[ $bed == yes ]]; then
  # Our provider checks at plan time that the namespace exists (create_namespace is off).
  for v in "${variants[@]}"; do
    namespaces+=("peers-bench-$v")
    "$kubectl" --kubeconfig "$kubeconfig" create namespace "peers-bench-$v" >/dev/null
  done
  step plan && for v in "${variants[@]}"; do
    for n in "${plan_sizes[@]}"; do
      dir=$(prepare "$v" "$n" "peers-bench-$v")
      say "plan of $n new deployments ($v)"
      record "plan-$n-new(ms)" "$v" "$(median_of "$dir" "$((n * $(per_deployment "$v"))) to add" plan -input=false -lock=false)"
    done
  done
  if [[ ${PEERS_SKIP_APPLY:-0} != 1 ]] && step apply; then
    for v in "${variants[@]}"; do
      dir=$(prepare "$v" 10 "peers-bench-$v")
      say "apply of 10 deployments ($v), refresh plan, destroy"
      record "apply-10(ms)" "$v" "$(timed "$dir" "Apply complete" apply -input=false -auto-approve || echo -)"
      record "plan-10-refresh(ms)" "$v" "$(median_of "$dir" "No changes" plan -input=false -lock=false -detailed-exitcode)"
      record "destroy-10(ms)" "$v" "$(timed "$dir" "Destroy complete" destroy -input=false -auto-approve || echo -)"
    done
  fi
  if [[ ${PEERS_SKIP_APPLY:-0} != 1 ]] && step scale; then
    one_replica=1
    read -r -a scaled <<<"${PEERS_SCALE_VARIANTS:-ours typed}"
    [[ ${PEERS_SCALE_MANIFEST:-0} == 1 ]] && scaled+=(manifest)
    for v in "${scaled[@]}"; do
      ns=peers-scale-$v
      namespaces+=("$ns")
      "$kubectl" --kubeconfig "$kubeconfig" create namespace "$ns" >/dev/null
      dir=$(prepare "$v" "$scale" "$ns")
      say "scale: apply of $scale one-replica deployments ($v), refresh plan, destroy"
      record "apply-$scale(ms)" "$v" "$(timed "$dir" "Apply complete" apply -input=false -auto-approve || echo -)"
      # Warm: one refreshing plan first, not counted (the goal is a warm plan; right after
      # the apply the bed is still settling: endpoints, leases, its runtime's first probes).
      refresh=(plan -input=false -lock=false -detailed-exitcode)
      timed "$dir" "No changes" "${refresh[@]}" >/dev/null || true
      record "plan-$scale-refresh(ms)" "$v" "$(median_of "$dir" "No changes" "${refresh[@]}")"
      record "destroy-$scale(ms)" "$v" "$(timed "$dir" "Destroy complete" destroy -input=false -auto-approve || echo -)"
    done
    one_replica=0
  fi
else
  say "no test bed (acceptance-tests/testbed/testbed up): plans and applies skipped"
fi

# --- the table -------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }'; }
echo
echo "machine: $(nproc) cores, load average $(cut -d ' ' -f 1-3 /proc/loadavg); $("$terraform" version | head -n 1)"
echo "ours: redis-k8s/redis $ours_version ($ours_bin); theirs: hashicorp/kubernetes $peer_version ($peer_bin${peer_dir:+, $(cat "$peer_dir/BUILD" 2>/dev/null || echo "build time unknown")})"
echo "medians of $runs runs (start-up: of ${PEERS_SPAWNS:-20} starts; apply/destroy: one run); ratio = ours / theirs"
# A subset run says which subset: a figure left out prints as "-".
echo "steps:$steps variants: ${variants[*]}; plan sizes: ${plan_sizes[*]}; scale variants: ${PEERS_SCALE_VARIANTS:-ours typed}${PEERS_SKIP_APPLY:+ (PEERS_SKIP_APPLY=$PEERS_SKIP_APPLY)}"
printf '%-26s %10s %12s %10s %12s %10s\n' figure ours manifest ratio typed ratio
for f in "${figures[@]}"; do
  o=${fig["$f|ours"]:--} m=${fig["$f|manifest"]:--} t=${fig["$f|typed"]:--}
  printf '%-26s %10s %12s %10s %12s %10s\n' "$f" "$o" "$m" "$(ratio "$o" "$m")" "$t" "$(ratio "$o" "$t")"
done
