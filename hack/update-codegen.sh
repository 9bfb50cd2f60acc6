#!/usr/bin/env bash
# Regenerates api/v3/zz_generated.deepcopy.go and the CRDs in config/crd from the
# types and kubebuilder markers in api/v3.
#
# Usage: hack/update-codegen.sh [OUTPUT_ROOT]
# With OUTPUT_ROOT the generated files are written under that directory (same
# relative layout) instead of into the tree; hack/verify-codegen.sh uses this.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT}"
CONTROLLER_GEN="${CONTROLLER_GEN:-go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0}"
HEADER="$ROOT/hack/boilerplate.go.txt"

cd "$ROOT"
mkdir -p "$OUT/config/crd" "$OUT/api/v3"

# Deepcopy: controller-gen writes next to the types; when a different output root
# is asked for, generate into the tree of a scratch copy so the real one is left
# alone.
if [[ "$OUT" == "$ROOT" ]]; then
	$CONTROLLER_GEN object:headerFile="$HEADER" paths=./api/...
else
	SCRATCH="$(mktemp -d)"
	trap 'rm -rf "$SCRATCH"' EXIT
	cp -r "$ROOT/go.mod" "$ROOT/go.sum" "$SCRATCH/"
	mkdir -p "$SCRATCH/api" "$SCRATCH/hack"
	cp -r "$ROOT/api/v3" "$SCRATCH/api/"
	rm -f "$SCRATCH/api/v3/zz_generated.deepcopy.go"
	(cd "$SCRATCH" && $CONTROLLER_GEN object:headerFile="$HEADER" paths=./api/v3/)
	cp "$SCRATCH/api/v3/zz_generated.deepcopy.go" "$OUT/api/v3/"
fi

# CRDs. float64 fields (policy and tier order) need allowDangerousTypes.
rm -f "$OUT"/config/crd/projectcalico.org_*.yaml
$CONTROLLER_GEN crd:crdVersions=v1,allowDangerousTypes=true paths=./api/v3/ \
	output:crd:artifacts:config="$OUT/config/crd"
# IPAMBlock allocations hold null for free ordinals; controller-gen has no marker
# for nullable list items, so add it here.
BLOCKS="$OUT/config/crd/projectcalico.org_ipamblocks.yaml"
awk '/^ *allocations:$/ { inalloc = 1 }
	inalloc && /^ *items:$/ {
		print; getline; ind = $0; sub(/[^ ].*/, "", ind)
		print ind "nullable: true"; print; inalloc = 0; next
	}
	{ print }' "$BLOCKS" >"$BLOCKS.tmp"
mv "$BLOCKS.tmp" "$BLOCKS"
# Profile and WorkloadEndpoint are synthesised from Namespaces, ServiceAccounts
# and Pods; they are Go types only and must have no CRD.
rm -f "$OUT/config/crd/projectcalico.org_profiles.yaml" "$OUT/config/crd/projectcalico.org_workloadendpoints.yaml"
