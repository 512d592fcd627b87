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

# Pushes the layouts `make image` wrote to $REGISTRY with skopeo, laid out as Deckhouse's
# external-module loader reads a module source: the components by digest into
# <source>/flant-integration (the bundle's images_digests.json names them), the bundle as
# <source>/flant-integration:$VERSION, the release image as <source>/flant-integration/release:
# $VERSION and :<channel> for each of $CHANNELS. Manifests are copied byte for byte
# (--preserve-digests), so the registry serves the layouts' digests. `make publish` runs it.
#
# Environment: REGISTRY (host[:port][/path]), VERSION, CHANNELS (space- or comma-separated),
# INSECURE=1 (plain HTTP or an unverified certificate), REGISTRY_USER/REGISTRY_PASSWORD (else
# skopeo's own login, if any), OCI_DIR. stdout carries only the objects to apply in the cluster;
# progress goes to stderr; the password reaches skopeo in a private temporary auth file, never
# a command line or an output.
set -euo pipefail

: "${REGISTRY:?host[:port][/path]}" "${VERSION:?vX.Y.Z}" "${OCI_DIR:=dist/oci}" "${CHANNELS:=}"
MODULE=flant-integration
ALL_CHANNELS=(alpha beta early-access stable rock-solid)

die() { printf 'publish: error: %s\n' "$*" >&2; exit 1; }
[[ $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]] || die "VERSION=$VERSION is not of the form vMAJOR.MINOR.PATCH"
SOURCE=${REGISTRY%/}
[[ $SOURCE =~ ^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$ ]] ||
	die "REGISTRY=$REGISTRY: expected host[:port]/path, the path lower-case components separated by single slashes"
read -r -a channels <<<"${CHANNELS//,/ }"
for c in "${channels[@]}"; do
	[[ " ${ALL_CHANNELS[*]} " == *" $c "* ]] || die "channel $c is not one of: ${ALL_CHANNELS[*]}"
done

digest() { # digest NAME: the manifest digest of layout NAME, which must hold $VERSION
	local index=$OCI_DIR/$1/index.json
	[[ -f $index ]] || die "$index is missing: run \`make image VERSION=$VERSION\` first"
	jq -er --arg v "$VERSION" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $v) | .digest' \
		"$index" || die "$OCI_DIR/$1 does not hold $VERSION: run \`make image VERSION=$VERSION\` first"
}

args=(copy --quiet --preserve-digests)
[[ -n ${INSECURE:-} ]] && args+=(--dest-tls-verify=false)
if [[ -n ${REGISTRY_USER:-} ]]; then
	auth=$(mktemp)
	trap 'rm -f "$auth"' EXIT
	chmod 0600 "$auth"
	# printf is a shell builtin: the credentials never appear on a command line.
	b64=$(printf '%s:%s' "$REGISTRY_USER" "${REGISTRY_PASSWORD:-}" | base64 -w0)
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "${SOURCE%%/*}" "$b64" >"$auth"
	args+=(--dest-authfile "$auth")
fi

push() { # push LAYOUT REFERENCE
	local digest
	digest=$(digest "$1")
	skopeo "${args[@]}" "oci:$OCI_DIR/$1:$VERSION" "docker://$2" ||
		die "pushing $1 to $2 failed (skopeo's message above)"
	printf 'pushed %s  (%s)\n' "$2" "$digest" >&2
}

[[ -f $OCI_DIR/images.json ]] || die "$OCI_DIR/images.json is missing: run \`make image VERSION=$VERSION\` first"
repo=$SOURCE/$MODULE
for name in $(jq -r 'keys[] | select(. != "bundle" and . != "release")' "$OCI_DIR/images.json"); do
	push "$name" "$repo@$(digest "$name")"
done
push bundle "$repo:$VERSION"
for tag in "$VERSION" "${channels[@]}"; do
	push release "$repo/release:$tag"
done

printf '\nApply this in the cluster to install %s from %s:\n\n' "$MODULE" "$SOURCE" >&2
cat <<EOF
apiVersion: deckhouse.io/v1alpha1
kind: ModuleSource
metadata:
  name: $MODULE
spec:
  registry:
    repo: $SOURCE$([[ -n ${INSECURE:-} ]] && printf '\n    scheme: HTTP')$([[ -n ${REGISTRY_USER:-} ]] && printf '\n    # base64 of a Docker config.json with credentials for %s\n    dockerCfg: <base64 dockerconfigjson>' "${SOURCE%%/*}")
---
apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata:
  name: $MODULE
spec:
  enabled: true
  source: $MODULE
EOF
