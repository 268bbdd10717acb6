#!/usr/bin/env bash
# Builds the test peers (etcd, kube-apiserver, kube-controller-manager) from the
# Go modules pinned in go.mod into a cache directory, and reuses them when they
# are already there for this go.mod. Prints the directory holding the binaries.
#
#   hack/kube/build.sh            # -> $TKE_KUBE_CACHE or ~/.cache/tke-apiserver/kube/<hash>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v go >/dev/null 2>&1; then
  echo "hack/kube/build.sh: Go is not installed; the control-plane tests need Go >= 1.26 and the Go module proxy to build kube-apiserver, kube-controller-manager and etcd" >&2
  exit 1
fi

# The cache is keyed by go.mod + go.sum + this script + the Go version, so a pin or flag change rebuilds.
key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" <(go env GOVERSION) | sha256sum | cut -c1-16)"
cache="${TKE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tke-apiserver/kube}/$key"
tools=(etcd:go.etcd.io/etcd/server/v3 kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager)

missing=()
for t in "${tools[@]}"; do [ -x "$cache/${t%%:*}" ] || missing+=("$t"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$cache"
  exit 0
fi

kube_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod")"
minor="${kube_version#v*.}"; minor="${minor%%.*}"
version_pkg=k8s.io/component-base/version
version_flags="-X $version_pkg.gitVersion=$kube_version -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor -X $version_pkg.gitTreeState=clean"

mkdir -p "$cache"
lock="$cache/.lock"
exec 9>"$lock"
flock 9
start=$(date +%s)
cd "$here"
for t in "${missing[@]}"; do
  name="${t%%:*}" pkg="${t#*:}"
  [ -x "$cache/$name" ] && continue
  echo "hack/kube/build.sh: building $name ($pkg) ..." >&2
  # -trimpath and no DWARF keep the binaries small; CGO off as upstream releases build them. The
  # version is stamped as upstream's hack/lib/version.sh does, so /version says what a client expects.
  if ! CGO_ENABLED=0 go build -trimpath -ldflags="-s -w $version_flags" -o "$cache/$name.tmp" "$pkg"; then
    rm -f "$cache/$name.tmp"
    echo "hack/kube/build.sh: building $name failed; it needs Go >= 1.26 ($(go env GOVERSION) here) and the Go module proxy ($(go env GOPROXY)) or a module cache holding hack/kube/go.sum's modules" >&2
    exit 1
  fi
  mv "$cache/$name.tmp" "$cache/$name"
done
echo "hack/kube/build.sh: built ${missing[*]%%:*} in $(( $(date +%s) - start ))s" >&2
echo "$cache"
