#!/usr/bin/env bash
# govulncheck without vuln.go.dev: CI cannot reach it, but the Go module proxy
# serves golang.org/x/vulndb, whose data/osv/*.json are the database's entries.
# We index them with vulndb's own cmd/indexdb into the v1 layout that
# `govulncheck -db file://` reads (index/db.json, index/modules.json, ID/*.json).
# Exits non-zero (govulncheck's 3) only if our code calls a vulnerable symbol.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# Pinned so a run is reproducible; bump VULNDB to pick up new advisories.
VULN=v1.9.0                                  # golang.org/x/vuln (govulncheck)
VULNDB=v0.0.0-20261105234957-e22db6528018    # golang.org/x/vulndb (the data)

# Kept across runs on this machine: the first run builds, later ones reuse.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/daemonset-controller/govulncheck
# Keyed by Go version too: govulncheck type-checks the stdlib with the
# go/types it was built with, so a new toolchain needs a rebuilt binary.
bin=$cache/vuln@$VULN-$(go env GOVERSION)/govulncheck
db=$cache/vulndb@$VULNDB

if [ ! -x "$bin" ]; then
  GOBIN=$(dirname "$bin") go install "golang.org/x/vuln/cmd/govulncheck@$VULN"
fi

if [ ! -f "$db/index/modules.json" ]; then
  # Outside any module, so the repo's go.mod/go.sum are never touched.
  src=$(cd / && go mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  when=$(cd / && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "golang.org/x/vulndb@$VULNDB")
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.build.XXXXXX")
  (cd / && go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB" -vulns "$src/data/osv" -out "$tmp")
  # The entries' "modified" is stamped only when vuln.go.dev is deployed and
  # is zero in the repo, so date the DB by the vulndb commit it was built from.
  printf '{"modified":"%s"}' "$when" >"$tmp/index/db.json"
  gzip -cn "$tmp/index/db.json" >"$tmp/index/db.json.gz"
  # Atomic, so an interrupted or concurrent build never leaves half a DB.
  mv -T "$tmp" "$db" 2>/dev/null || rm -rf "$tmp"
fi

# -show version prints what was used: Go, govulncheck, the DB (its path names
# the vulndb version) and its date. ./... is the product module only:
# e2e/tools/* and e2e/bench are modules of their own.
exec "$bin" -show version -db "file://$db" ./...
