#!/usr/bin/env bash
# Copyright 2026 Flant JSC
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# Builds the module's images from their Dockerfiles with buildah, without a daemon, into OCI
# layouts: `make image` runs it. The component images are images/<name>/Dockerfile, the bundle
# and the release image .werf/bundle/Dockerfile and .werf/release/Dockerfile; each is built from a
# context this script prepares under $IMAGE_WORK/context/<name>/ (`make image-context` stops
# there, for docker or werf). The bundle carries images_digests.json, so the components are
# built first.
#
# Reproducible: every file of a context gets a fixed mode (directories and executables 0755,
# other files 0644, /tmp 1777), buildah owns every entry by 0:0 and, with --timestamp, gives every
# file and the config the one time SOURCE_DATE_EPOCH (default 0); --identity-label=false keeps
# buildah's version out of the config. The store (vfs, no daemon, no mounts) is created afresh for
# each build under $IMAGE_WORK and guarded by a lock, so two builds never share it.
#
# Environment (the Makefile passes each): MODULE_DIR, BINS (static hooks and madison-proxy),
# SHELL_OPERATOR, VERSION, OCI_DIR, IMAGE_WORK, SOURCE_DATE_EPOCH; CONTEXT_ONLY=1 stops after the
# component contexts. Output: $OCI_DIR/<name>/ (an OCI layout tagged $VERSION) and
# $OCI_DIR/images.json (name -> tag and manifest digest). Progress goes to stderr.
set -euo pipefail
umask 022

: "${MODULE_DIR:=.}" "${BINS:?the static executables folder}" "${SHELL_OPERATOR:?the shell-operator binary}"
: "${VERSION:?vX.Y.Z}" "${OCI_DIR:=dist/oci}" "${IMAGE_WORK:=target/images}" "${SOURCE_DATE_EPOCH:=0}"
: "${BUILDAH:=buildah}"

die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }
[[ $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]] || die "VERSION=$VERSION is not of the form vMAJOR.MINOR.PATCH"
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH is not seconds"

# Definitions live next to this script's repository; inputs may come from elsewhere (MODULE_DIR).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$IMAGE_WORK" "$OCI_DIR"
IMAGE_WORK=$(cd "$IMAGE_WORK" && pwd)
OCI_DIR=$(cd "$OCI_DIR" && pwd)

# One build per work folder at a time: the store and the contexts are recreated below.
exec 9>"$IMAGE_WORK/.lock"
flock 9

CONTEXT=$IMAGE_WORK/context
STORE=$IMAGE_WORK/buildah
rm -rf "$CONTEXT" "$STORE"
mkdir -p "$CONTEXT"
B=("$BUILDAH" --root "$STORE/root" --runroot "$STORE/run" --storage-driver vfs)

# The hooks shell-operator runs in the pricing pod; every other hook is a module hook (the bundle).
mapfile -t PRICING_HOOKS < <(grep -v '^#' "$REPO/images/pricing/hooks.txt" | grep .)
MODULE_HOOKS=()
for dir in "$REPO"/hooks/*/; do
	h=$(basename "$dir")
	[[ " ${PRICING_HOOKS[*]} " == *" $h "* ]] || MODULE_HOOKS+=("$h")
done

exe() { # exe SRC DEST: a static executable, mode 0755
	[[ -f $1 ]] || die "$1 is missing: run \`make static\` (and \`make shell-operator\`) first"
	install -D -m 0755 "$1" "$2"
}

tree() { # tree SRC DEST: a copy with modes fixed (directories and executables 0755, the rest 0644)
	[[ -e $1 ]] || die "$1 is missing"
	mkdir -p "$(dirname "$2")"
	cp -R "$1" "$2"
	chmod -R u=rwX,go=rX "$2"
}

base() { # base DIR: the unprivileged user and a writable /tmp (Kubernetes mounts an emptyDir there)
	mkdir -p "$1/etc" "$1/tmp"
	printf 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$1/etc/passwd"
	printf 'nogroup:x:65534:\n' >"$1/etc/group"
	chmod 0644 "$1/etc/passwd" "$1/etc/group"
	chmod 1777 "$1/tmp"
}

context() { # context NAME: the build context of images/NAME/Dockerfile
	local dir=$CONTEXT/$1
	mkdir -p "$dir"
	case $1 in
	madison-proxy)
		base "$dir/base"
		exe "$BINS/madison-proxy" "$dir/madison-proxy"
		;;
	pricing)
		base "$dir/base"
		exe "$SHELL_OPERATOR" "$dir/shell-operator"
		for h in "${PRICING_HOOKS[@]}"; do exe "$BINS/$h" "$dir/hooks/$h"; done
		;;
	*) die "images/$1: no build context is defined for it in ${BASH_SOURCE[0]}" ;;
	esac
}

build() { # build NAME DOCKERFILE: one image, pushed to the layout $OCI_DIR/NAME; prints its digest
	local layout=$OCI_DIR/$1
	"${B[@]}" build --quiet --layers --pull=false --identity-label=false --timestamp "$SOURCE_DATE_EPOCH" \
		-f "$2" -t "localhost/flant-integration/$1:$VERSION" "$CONTEXT/$1" >/dev/null
	rm -rf "$layout"
	"${B[@]}" push --quiet --format oci "localhost/flant-integration/$1:$VERSION" "oci:$layout:$VERSION"
	jq -r '.manifests[0].digest' "$layout/index.json"
}

# Deckhouse's digest key of images/<name>: lower camel case (werf: `camelcase | untitle`).
camel() { sed -E 's/[-_]+(.)/\U\1/g; s/^(.)/\L\1/' <<<"$1"; }

declare -A DIGESTS=()
COMPONENTS=()
for dockerfile in "$REPO"/images/*/Dockerfile; do
	name=$(basename "$(dirname "$dockerfile")")
	COMPONENTS+=("$name")
	context "$name"
done
[[ ${CONTEXT_ONLY:-} == 1 ]] && { echo "contexts: $CONTEXT" >&2; exit 0; }
for name in "${COMPONENTS[@]}"; do
	DIGESTS[$name]=$(build "$name" "$REPO/images/$name/Dockerfile")
done

digests_json() {
	for name in "${COMPONENTS[@]}"; do printf '%s\n%s\n' "$(camel "$name")" "${DIGESTS[$name]}"; done |
		jq -nRS 'reduce (inputs as $k | input as $d | {($k): $d}) as $e ({}; . + $e)'
}

# The bundle: the module folder Deckhouse unpacks (layout of deckhouse/modules-template's
# .werf/stages/bundle.yaml), the module hooks, images_digests.json and version.json.
bundle=$CONTEXT/bundle
mkdir -p "$bundle"
for f in module.yaml Chart.yaml .helmignore templates openapi monitoring docs; do tree "$MODULE_DIR/$f" "$bundle/$f"; done
for d in charts crds; do [[ -d $MODULE_DIR/$d ]] && tree "$MODULE_DIR/$d" "$bundle/$d"; done
for h in "${MODULE_HOOKS[@]}"; do exe "$BINS/$h" "$bundle/hooks/$h"; done
digests_json >"$bundle/images_digests.json"
jq -n --arg v "$VERSION" '{version: $v}' >"$bundle/version.json"
DIGESTS[bundle]=$(build bundle "$REPO/.werf/bundle/Dockerfile")

# The release image: what Deckhouse reads from a release channel tag (.werf/stages/release.yaml).
release=$CONTEXT/release
mkdir -p "$release"
for f in module.yaml changelog.yaml; do tree "$MODULE_DIR/$f" "$release/$f"; done
cp "$bundle/version.json" "$release/version.json"
DIGESTS[release]=$(build release "$REPO/.werf/release/Dockerfile")

for name in "${!DIGESTS[@]}"; do printf '%s\n%s\n' "$name" "${DIGESTS[$name]}"; done |
	jq -nRS --arg tag "$VERSION" 'reduce (inputs as $k | input as $d | {($k): {tag: $tag, digest: $d}}) as $e ({}; . + $e)' \
		>"$OCI_DIR/images.json"
for name in $(jq -r 'keys[]' "$OCI_DIR/images.json"); do
	printf '%-14s %s  %s\n' "$name" "${DIGESTS[$name]}" "$OCI_DIR/$name" >&2
done
rm -rf "$STORE"
