#!/usr/bin/env bash
# Fails if the committed deepcopy code or CRDs differ from what
# hack/update-codegen.sh generates from the current types.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$ROOT/hack/update-codegen.sh" "$TMP"

status=0
if ! diff -u "$ROOT/api/v3/zz_generated.deepcopy.go" "$TMP/api/v3/zz_generated.deepcopy.go"; then
	status=1
fi
if ! diff -ru --exclude='*.go' "$ROOT/config/crd" "$TMP/config/crd"; then
	status=1
fi
if [[ $status -ne 0 ]]; then
	echo >&2
	echo "verify-codegen: generated files are out of date; run hack/update-codegen.sh and commit the result" >&2
	exit 1
fi
echo "verify-codegen: deepcopy code and CRDs are up to date"
