#!/usr/bin/env bash
# Builds the e2e test-bed binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the pinned modules beside this script into a
# cache folder outside the clone, keyed by those pins, plus kwok's stage file,
# and prints that folder. A second run with the same pins builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here"/*/go.mod "$here"/*/go.sum | sha256sum | cut -c1-12)
out=${DSC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/daemonset-controller/tools-$key}
mkdir -p "$out"

build() { # build BIN MODULE-DIR PACKAGE
  [ -x "$out/$1" ] && return 0
  echo "building $1 into $out (the first build of all six takes ~10 min)" >&2
  tmp=$(mktemp "$out/.$1.XXXXXX") # concurrent builds never share a file
  # http2legacy: from Go 1.27, golang.org/x/net/http2 wraps net/http's
  # HTTP/2 and drops names (http2.TrailerPrefix) that the pinned grpc of
  # etcd uses; the tag keeps x/net's own implementation, as before Go 1.27.
  (cd "$here/$2" && go build -trimpath -tags=http2legacy -o "$tmp" "$3")
  mv "$tmp" "$out/$1"
}
build etcd etcd .
build kwok kwok sigs.k8s.io/kwok/cmd/kwok
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build "$b" kube "k8s.io/kubernetes/cmd/$b"
done

# kwok's own stages: nodes turn Ready and renew leases, pods go Pending ->
# Running -> Ready, and deleted pods go away.
if [ ! -s "$out/kwok-stages.yaml" ]; then
  stages=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/general/pod-create pod/general/pod-init-container-running pod/general/pod-init-container-completed \
    pod/general/pod-ready pod/general/pod-complete pod/general/pod-delete; do
    cat "$stages/$f.yaml"; echo "---"
  done > "$out/.kwok-stages.$$"
  mv "$out/.kwok-stages.$$" "$out/kwok-stages.yaml"
fi
# A gitignored link inside the clone, for people looking for the binaries.
root=$(cd "$here/../.." && pwd)
mkdir -p "$root/_output" && ln -sfn "$out" "$root/_output/tools"
echo "$out"
