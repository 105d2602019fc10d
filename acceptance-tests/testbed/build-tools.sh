#!/usr/bin/env bash
# Builds the test bed's Go tools from the Go module proxy into a cache outside the
# repository, one folder per tool and pinned version. A tool is rebuilt only when
# its folder is missing, so changing a version in versions.env rebuilds just that one.
#
#   build-tools.sh [all|k8s|etcd|kwok|tofu|terragrunt]...
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

build_terragrunt() {
  local v=$TERRAGRUNT_VERSION name=terragrunt
  is_built $name "$v" && return 0
  local refused="$tools/$name-$v.refused"
  if [ -f "$refused" ] && [ "${FORCE_TERRAGRUNT:-0}" != 1 ]; then
    log "terragrunt $v: the Go module proxy refused it before ($(cat "$refused")); FORCE_TERRAGRUNT=1 to retry"
    return 1
  fi
  log "building terragrunt $v"
  local w
  w="$(new_wrapper $name)"
  if ! (
    cd "$w"
    mkdir -p bin
    GOBIN="$w/bin" go install -trimpath -ldflags "-s -w" "github.com/gruntwork-io/terragrunt@$v"
  ); then
    rm -rf "$w"
    date -u +%FT%TZ >"$refused"
    log "terragrunt $v could not be built from the Go module proxy (see above); the test bed goes on without it"
    return 1
  fi
  finish $name "$v" "$w"
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
    # Optional: the Go module proxy has refused terragrunt here (403); the rest of
    # the test bed does not depend on it.
    build_terragrunt || true
    ;;
  k8s | kubernetes) build_k8s ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  tofu) build_tofu ;;
  terragrunt) build_terragrunt || status=$? ;;
  *)
    log "unknown target $t"
    exit 2
    ;;
  esac
done
exit $status
