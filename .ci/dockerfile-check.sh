#!/usr/bin/env bash
# The Dockerfile's build stage, replayed without a container engine (CI has
# none): its COPY lines copy from the repository into an empty folder, and
# the controller is built there as its RUN line builds it. A source file
# the Dockerfile forgets to copy fails here, not on a user's machine.
# Then the binary must be static (the final stage is distroless/static) and
# run. What this does not check: the base images and the final stage.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/dsc-dockerfile.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# The build stage is everything before the second FROM.
stage=$(awk '/^FROM /{n++} n==1' Dockerfile)
workdir=$(awk '$1=="WORKDIR"{print $2}' <<<"$stage" | tail -1)
[ -n "$workdir" ] || { echo "Dockerfile: no WORKDIR in the build stage"; exit 1; }
src=$ctx/$workdir
mkdir -p "$src"

# The golang image builds with its own Go (its GOTOOLCHAIN is local): it
# must be at least go.mod's go line, or the image fails where this passes.
image_go=$(sed -nE 's/^FROM golang:([0-9]+\.[0-9]+(\.[0-9]+)?).*/\1/p' <<<"$stage" | head -1)
mod_go=$(awk '$1=="go"{print $2}' go.mod)
[ -n "$image_go" ] || { echo "Dockerfile: the build stage is not FROM golang:<version>"; exit 1; }
if [ "$(printf '%s\n%s\n' "$mod_go" "$image_go" | sort -V | head -1)" != "$mod_go" ]; then
  echo "Dockerfile: golang:$image_go is older than go.mod's go $mod_go"; exit 1
fi
[ ! -e .dockerignore ] || { echo "Dockerfile: .dockerignore is not replayed here; teach this script"; exit 1; }

# COPY <sources...> <dest>, from the build context (not --from=).
while read -r -a words; do
  dest=${words[-1]}
  unset 'words[-1]'
  case $dest in
    /*) target=$ctx$dest ;;
    *) target=$src/$dest ;;
  esac
  mkdir -p "$target"
  for pattern in "${words[@]:1}"; do
    # shellcheck disable=SC2206 # the Dockerfile's own globs, expanded here
    matches=($pattern)
    [ -e "${matches[0]}" ] || { echo "Dockerfile: COPY $pattern matches nothing"; exit 1; }
    for m in "${matches[@]}"; do
      if [ -d "$m" ]; then cp -R "$m/." "$target/"; else cp "$m" "$target/"; fi # a folder's contents, as COPY does
    done
  done
done < <(grep -E '^COPY ' <<<"$stage" | grep -v -- '--from=')

# RUN ... go build ... -o <path> ...: the same command, its output moved
# into the folder.
build=$(grep -E '^RUN .*go build' <<<"$stage" | sed -e 's/^RUN //' || true)
[ -n "$build" ] || { echo "Dockerfile: no go build in the build stage"; exit 1; }
build=$(sed -E "s# -o /?([^ =]+)# -o $ctx/out/\1#" <<<"$build")
[[ $build == *" -o $ctx/out/"* ]] || { echo "Dockerfile: the go build line has no '-o <path>' to redirect: $build"; exit 1; }
(cd "$src" && bash -c "$build")
bin=$(find "$ctx/out" -type f 2>/dev/null | head -1 || true)
[ -n "$bin" ] || { echo "Dockerfile: go build wrote no binary where -o says"; exit 1; }
# distroless/static has no C library: the binary must not need one.
info=$(go version -m "$bin")
[[ $info == *CGO_ENABLED=0* ]] || { echo "Dockerfile: $bin is not built with CGO_ENABLED=0"; exit 1; }
"$bin" --help >/dev/null 2>&1 || { echo "Dockerfile: the built controller does not run (--help)"; exit 1; }
echo "Dockerfile's build stage: builds a static controller from what it copies"
