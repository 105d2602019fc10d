#!/usr/bin/env bash
# Builds the test bed's Go tools from the Go module proxy into a cache outside the
# repository, one folder per tool and pinned version. A tool is rebuilt only when
# its folder is missing, so changing a version in versions.env rebuilds just that one.
#
#   build-tools.sh [all|k8s|etcd|kwok|tofu|terragrunt|redis|valkey|redis_exporter|
#                   promtool|monitoring-crds|seaweedfs|fake-gcs-server|azurite]...
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

cache="${TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-redis}"
tools="$cache/tools"
mkdir -p "$tools"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

log() { printf '[build-tools] %s\n' "$*" >&2; }

# done_dir NAME VERSION -> prints the folder; succeeds when that build is complete.
tool_dir() { printf '%s/%s-%s' "$tools" "$1" "$2"; }
is_built() { [ -f "$(tool_dir "$1" "$2")/.complete" ]; }

# A scratch wrapper module; the finished binaries are moved into place atomically.
new_wrapper() {
  local name=$1
  local dir="$cache/work/$name"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '%s' "$dir"
}

finish() {
  local name=$1 version=$2 wrapper=$3
  local dest
  dest="$(tool_dir "$name" "$version")"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$wrapper/bin" "$dest"
  touch "$dest/.complete"
  rm -rf "$wrapper"
  log "$name $version ready in $dest"
}

build_k8s() {
  local v=$K8S_VERSION name=kubernetes
  is_built $name "$v" && return 0
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $v"
  local w
  w="$(new_wrapper $name)"
  local minor=${v#v1.}
  minor=${minor%%.*}
  local staging=v0.${v#v1.}
  (
    cd "$w"
    go mod init testbed/kubernetes >/dev/null 2>&1
    go mod edit -go=1.24.0 -require="k8s.io/kubernetes@$v"
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
    # local folders; a consumer must pin each to the matching published version.
    # The list comes from the module's own go.mod.
    local gomod
    gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$v.mod"
    go mod download "k8s.io/kubernetes@$v"
    awk '/=> \.\/staging\/src\// { print $1 }' "$gomod" | while read -r mod; do
      go mod edit -replace="$mod=$mod@$staging"
    done
    cat >tools.go <<EOF
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
    go mod tidy
    local pkg=k8s.io/component-base/version
    local ld="-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$v"
    mkdir -p bin
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      log "  go build $cmd"
      go build -trimpath -ldflags "$ld" -o "bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  finish $name "$v" "$w"
}

build_etcd() {
  local v=$ETCD_VERSION name=etcd
  is_built $name "$v" && return 0
  log "building etcd $v"
  local w
  w="$(new_wrapper $name)"
  (
    cd "$w"
    go mod init testbed/etcd >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@$v"
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
    go mod tidy
    mkdir -p bin
    go build -trimpath -ldflags "-s -w" -o bin/etcd go.etcd.io/etcd/server/v3
  )
  finish $name "$v" "$w"
}

build_kwok() {
  local v=$KWOK_VERSION name=kwok
  is_built $name "$v" && return 0
  log "building kwok $v"
  local w
  w="$(new_wrapper $name)"
  (
    cd "$w"
    mkdir -p bin
    GOBIN="$w/bin" go install -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$v" "sigs.k8s.io/kwok/cmd/kwok@$v"
    # kwok's CRDs (PortForward, Exec, ...) ship in its module; the test bed applies them.
    mkdir -p bin/crds
    local src
    src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$v/kustomize/crd/bases"
    for f in "$src"/*.yaml; do
      case "$f" in *_stages.yaml | *metrics.yaml | *resourceusages.yaml) continue ;; esac
      cp "$f" bin/crds/
    done
    chmod 644 bin/crds/*
  )
  finish $name "$v" "$w"
}

build_tofu() {
  local v=$TOFU_VERSION name=tofu
  is_built $name "$v" && return 0
  log "building tofu $v"
  local w
  w="$(new_wrapper $name)"
  (
    cd "$w"
    go mod init testbed/tofu >/dev/null 2>&1
    go mod download "github.com/opentofu/opentofu@$v"
    local gomod
    gomod="$(go env GOMODCACHE)/cache/download/github.com/opentofu/opentofu/@v/$v.mod"
    go mod edit -go="$(awk '/^go / { print $2 }' "$gomod")" -require="github.com/opentofu/opentofu@$v"
    # OpenTofu's go.mod replaces modules (its fork of hcl); replaces only apply in the
    # main module, so the wrapper repeats each one.
    awk '/^replace / && /=>/ { sub(/^replace /, ""); print } /^replace \(/ { inblock=1; next } inblock && /^\)/ { inblock=0 } inblock && /=>/ { print }' "$gomod" |
      while read -r old oldv arrow new newv; do
        if [ "$oldv" = "=>" ]; then # "old => new version" without an old version
          go mod edit -replace="$old=$arrow@$new"
        else
          go mod edit -replace="$old@$oldv=$new@$newv"
        fi
      done
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/opentofu/opentofu/cmd/tofu"\n' >tools.go
    go mod tidy
    mkdir -p bin
    go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o bin/tofu github.com/opentofu/opentofu/cmd/tofu
  )
  finish $name "$v" "$w"
}

# The sources the registries do not serve are archives in the shared vendor folder
# (../shared/vendor beside the repository, or $TESTBED_VENDOR); each is checked
# against testbed/vendor.sha256 before it is unpacked, and never copied anywhere
# but the scratch folder of its build.
vendor_dir() {
  local d=${TESTBED_VENDOR:-$here/../../../shared/vendor}
  [ -d "$d" ] || {
    log "vendored sources not found at $d (set TESTBED_VENDOR)"
    return 1
  }
  (cd "$d" && pwd)
}

# unpack_vendor ARCHIVE DEST: verifies the archive's sha256, unpacks it into DEST.
unpack_vendor() {
  local archive=$1 dest=$2 vd sum
  vd="$(vendor_dir)" || return 1
  sum="$(awk -v f="$archive" '$2 == f { print $1 }' "$here/vendor.sha256")"
  [ -n "$sum" ] || {
    log "$archive has no sha256 in vendor.sha256"
    return 1
  }
  printf '%s  %s\n' "$sum" "$vd/$archive" | sha256sum -c --quiet - || {
    log "$vd/$archive does not match its sha256"
    return 1
  }
  tar -xzf "$vd/$archive" -C "$dest"
}

build_terragrunt() {
  local v=$TERRAGRUNT_VERSION name=terragrunt
  is_built $name "$v" && return 0
  log "building terragrunt $v from the vendored source"
  local w
  w="$(new_wrapper $name)"
  (
    unpack_vendor "terragrunt-${v#v}-src.tar.gz" "$w"
    cd "$w/terragrunt-${v#v}"
    mkdir -p "$w/bin"
    go build -trimpath -ldflags "-s -w -X github.com/gruntwork-io/terragrunt/internal/version.Version=$v" \
      -o "$w/bin/terragrunt" .
  )
  finish $name "$v" "$w"
}

# Redis and Valkey: plain make with TLS, from the vendored release archives. The
# Redis builds provide redis-*; the Valkey build provides valkey-* and the redis-*
# names its image also carries (links to the same binaries).
build_server() {
  local name=$1 v=$2
  is_built "$name" "$v" && return 0
  log "building $name $v from the vendored source (make)"
  local w
  w="$(new_wrapper "$name")"
  (
    unpack_vendor "$name-$v-src.tar.gz" "$w"
    # -O2 as upstream; BUILD_TLS links Debian's OpenSSL (libssl-dev).
    make -C "$w/$name-$v" -j"$(nproc)" BUILD_TLS=yes >"$w/make.log" 2>&1 || {
      tail -30 "$w/make.log" >&2
      exit 1
    }
    mkdir -p "$w/bin"
    local t
    for t in server cli benchmark check-rdb check-aof; do
      cp "$w/$name-$v/src/$name-$t" "$w/bin/"
    done
    ln -s "$name-server" "$w/bin/$name-sentinel"
    if [ "$name" = valkey ]; then
      for t in server cli benchmark check-rdb check-aof sentinel; do
        ln -s "valkey-$t" "$w/bin/redis-$t"
      done
    fi
    rm -rf "${w:?}/$name-$v"
  )
  finish "$name" "$v" "$w"
}

build_redis_exporter() {
  local v=$REDIS_EXPORTER_VERSION name=redis_exporter
  is_built $name "$v" && return 0
  log "building redis_exporter $v from the vendored source"
  local w
  w="$(new_wrapper $name)"
  (
    unpack_vendor "redis_exporter-${v#v}-src.tar.gz" "$w"
    cd "$w/redis_exporter-${v#v}"
    mkdir -p "$w/bin"
    go build -trimpath -ldflags "-s -w -X main.BuildVersion=$v" -o "$w/bin/redis_exporter" .
  )
  finish $name "$v" "$w"
}

# promtool from github.com/prometheus/prometheus (module versions v0.3MM.P are
# Prometheus 3.MM.P), with the version ldflags its own build sets.
build_promtool() {
  local v=$PROMETHEUS_VERSION name=promtool
  is_built $name "$v" && return 0
  log "building promtool $v"
  local w
  w="$(new_wrapper $name)"
  (
    cd "$w"
    go mod init testbed/promtool >/dev/null 2>&1
    go mod download "github.com/prometheus/prometheus@$v"
    local gomod
    gomod="$(go env GOMODCACHE)/cache/download/github.com/prometheus/prometheus/@v/$v.mod"
    go mod edit -go="$(awk '/^go / { print $2 }' "$gomod")" -require="github.com/prometheus/prometheus@$v"
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/prometheus/prometheus/cmd/promtool"\n' >tools.go
    go mod tidy
    local minor=${v#v0.}
    local release="3.$((10#${minor:1:2})).${minor#*.}"
    local pkg=github.com/prometheus/common/version
    mkdir -p bin
    # Prometheus' own build tags keep only the file, HTTP and Kubernetes service
    # discovery (the cloud SDKs more than double the build); rules, and configs using
    # those, check as with a release build.
    go build -trimpath -tags remove_all_sd,enable_kubernetes_sd \
      -ldflags "-s -w -X $pkg.Version=$release -X $pkg.Branch=HEAD -X $pkg.Revision=$v" \
      -o bin/promtool github.com/prometheus/prometheus/cmd/promtool
  )
  finish $name "$v" "$w"
}

# The Prometheus Operator's CRDs, as its Go module ships them (example/prometheus-operator-crd).
build_monitoring_crds() {
  local v=$PROMETHEUS_OPERATOR_VERSION name=prometheus-operator-crds
  is_built $name "$v" && return 0
  log "fetching the Prometheus Operator CRDs $v (Go module)"
  local w
  w="$(new_wrapper $name)"
  (
    cd "$w"
    local dir
    dir="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$v" |
      sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    mkdir -p bin
    local kind
    for kind in servicemonitors prometheusrules; do
      cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" bin/
    done
    chmod 644 bin/*.yaml
  )
  finish $name "$v" "$w"
}

# SeaweedFS (its `weed` command: master, volume, filer and S3 gateway in one binary).
build_seaweedfs() {
  local v=$SEAWEEDFS_VERSION name=seaweedfs
  is_built $name "$v" && return 0
  log "building seaweedfs $v"
  local w
  w="$(new_wrapper $name)"
  (
    cd "$w"
    go mod init testbed/seaweedfs >/dev/null 2>&1
    go get "github.com/seaweedfs/seaweedfs/weed@$v"
    mkdir -p bin
    go build -trimpath -ldflags "-s -w" -o bin/weed github.com/seaweedfs/seaweedfs/weed
  )
  finish $name "$v" "$w"
}

# fake-gcs-server, a Google Cloud Storage emulator (its main package is the module root).
build_fake_gcs_server() {
  local v=$FAKE_GCS_SERVER_VERSION name=fake-gcs-server
  is_built $name "$v" && return 0
  log "building fake-gcs-server $v"
  local w
  w="$(new_wrapper $name)"
  (
    cd "$w"
    mkdir -p bin
    GOBIN="$w/bin" go install -trimpath -ldflags "-s -w" "github.com/fsouza/fake-gcs-server@$v"
  )
  finish $name "$v" "$w"
}

# Azurite, the Azure Storage emulator, from the npm registry into its own prefix
# (the newest release that runs on Node.js 20; `azurite-blob` is its Blob service).
build_azurite() {
  local v=$AZURITE_VERSION name=azurite
  is_built $name "$v" && return 0
  command -v npm >/dev/null || {
    log "npm is needed for azurite (Node.js with npm; Debian: apt-get install nodejs npm)"
    return 1
  }
  log "installing azurite $v (npm)"
  local w
  w="$(new_wrapper $name)"
  mkdir -p "$w/bin"
  npm install --prefix "$w/bin" --no-audit --no-fund --omit=dev --loglevel=error "azurite@$v" >&2
  finish $name "$v" "$w"
}

build_servers() {
  build_server redis "$REDIS_72_VERSION"
  build_server redis "$REDIS_74_VERSION"
  build_server valkey "$VALKEY_VERSION"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(all)
status=0
for t in "${targets[@]}"; do
  case "$t" in
  all)
    build_etcd
    build_kwok
    build_k8s
    build_tofu
    build_terragrunt
    build_servers
    build_redis_exporter
    build_promtool
    build_monitoring_crds
    build_seaweedfs
    build_fake_gcs_server
    build_azurite
    ;;
  k8s | kubernetes) build_k8s ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  tofu) build_tofu ;;
  terragrunt) build_terragrunt ;;
  redis | valkey | servers) build_servers ;;
  redis_exporter | exporter) build_redis_exporter ;;
  promtool) build_promtool ;;
  monitoring-crds) build_monitoring_crds ;;
  seaweedfs) build_seaweedfs ;;
  fake-gcs-server | gcs) build_fake_gcs_server ;;
  azurite | azure) build_azurite ;;
  *)
    log "unknown target $t"
    exit 2
    ;;
  esac
done
exit $status
