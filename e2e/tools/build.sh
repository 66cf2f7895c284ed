#!/usr/bin/env bash
# Builds the e2e test-bed binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the pinned modules beside this script, into
# a cache folder outside the clone keyed by those pins, and prints that folder.
# A second run with the same pins builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here"/*/go.mod "$here"/*/go.sum "$here"/build.sh | sha256sum | cut -c1-12)
out=${DSC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/daemonset-controller/tools-$key}
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)
missing=0
for b in "${want[@]}"; do [ -x "$out/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  mkdir -p "$out.tmp"
  echo "building test-bed binaries into $out (first time takes ~10 min)" >&2
  (cd "$here/etcd" && go build -trimpath -o "$out.tmp/etcd" .)
  (cd "$here/kwok" && go build -trimpath -o "$out.tmp/" sigs.k8s.io/kwok/cmd/kwok)
  (cd "$here/kube" && go build -trimpath -o "$out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl)
  mkdir -p "$out"
  for b in "${want[@]}"; do mv "$out.tmp/$b" "$out/$b"; done
  rmdir "$out.tmp" 2>/dev/null || true
fi
echo "$out"
