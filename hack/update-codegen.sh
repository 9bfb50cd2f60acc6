#!/usr/bin/env bash
# Regenerates, from the types and kubebuilder markers in api/v3:
#   - api/v3/zz_generated.deepcopy.go (controller-gen "object" generator);
#   - config/crd/projectcalico.org_<plural>.yaml, one CRD per stored kind.
#
# Usage: hack/update-codegen.sh [OUTPUT_ROOT]
# With OUTPUT_ROOT the files are written under that directory, in the same
# relative layout, and the tree is left alone; hack/verify-codegen.sh uses this.
#
# controller-gen is run with "go run ...@version" (override with CONTROLLER_GEN);
# that downloads controller-tools into the module cache the first time and never
# touches go.mod.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT}"
CONTROLLER_GEN="${CONTROLLER_GEN:-go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0}"
HEADER="$ROOT/hack/boilerplate.go.txt"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$ROOT"

# Deepcopy. controller-gen writes next to the types, so generate in a scratch
# copy of the package and copy the result out.
mkdir -p "$WORK/src/api" "$WORK/crd"
cp "$ROOT/go.mod" "$ROOT/go.sum" "$WORK/src/"
cp -r "$ROOT/api/v3" "$WORK/src/api/"
rm -rf "$WORK/src/api/v3/validation" "$WORK/src/api/v3/zz_generated.deepcopy.go"
(cd "$WORK/src" && $CONTROLLER_GEN object:headerFile="$HEADER" paths=./api/v3/)

# CRDs. float64 fields (policy and tier order) need allowDangerousTypes.
$CONTROLLER_GEN crd:crdVersions=v1,allowDangerousTypes=true paths=./api/v3/ \
	output:crd:artifacts:config="$WORK/crd"

# Profile, WorkloadEndpoint and Node are synthesised from Namespaces,
# ServiceAccounts, Pods and Nodes; they are Go types only and must have no CRD.
rm -f "$WORK/crd/projectcalico.org_profiles.yaml" "$WORK/crd/projectcalico.org_workloadendpoints.yaml" \
	"$WORK/crd/projectcalico.org_nodes.yaml"

# IPAMBlock allocations hold null for free ordinals; controller-gen has no marker
# for nullable list items, so add it here.
BLOCKS="$WORK/crd/projectcalico.org_ipamblocks.yaml"
awk '/^ *allocations:$/ { inalloc = 1 }
	inalloc && /^ *items:$/ {
		print; getline; ind = $0; sub(/[^ ].*/, "", ind)
		print ind "nullable: true"; print; inalloc = 0; next
	}
	{ print }' "$BLOCKS" >"$BLOCKS.tmp"
mv "$BLOCKS.tmp" "$BLOCKS"
grep -q "nullable: true" "$BLOCKS" || { echo "update-codegen: could not mark IPAMBlock allocations nullable" >&2; exit 1; }

# Only now that everything was generated, replace the outputs.
mkdir -p "$OUT/api/v3" "$OUT/config/crd"
cp "$WORK/src/api/v3/zz_generated.deepcopy.go" "$OUT/api/v3/"
rm -f "$OUT"/config/crd/projectcalico.org_*.yaml
cp "$WORK"/crd/projectcalico.org_*.yaml "$OUT/config/crd/"
