#!/bin/sh
# gen-gomod.sh regenerates lab/kube/go.mod for a Kubernetes release: it requires
# k8s.io/kubernetes at that version and pins every k8s.io staging module that
# k8s.io/kubernetes replaces with ./staging/src/... to the matching v0.x tag
# (sample-* modules are skipped: some are not published). Then it tidies.
#
#   lab/kube/gen-gomod.sh v1.37.1
#
# Only needed when moving to another Kubernetes version; the generated go.mod
# and go.sum are committed, so builds never run this.
set -eu
V=${1:?usage: gen-gomod.sh vMAJOR.MINOR.PATCH}
cd "$(dirname "$0")"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
STAGING=v0.${V#v1.}
MODFILE=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$V") || {
	echo "gen-gomod: the module proxy does not serve k8s.io/kubernetes@$V" >&2
	exit 1
}
GOVER=$(go list -m -f '{{.GoVersion}}' "k8s.io/kubernetes@$V")
{
	echo "module kubebins"
	echo
	echo "go $GOVER"
	echo
	echo "require k8s.io/kubernetes $V"
	echo
	echo "replace ("
	awk -v v="$STAGING" '$2 == "=>" && $3 ~ /^\.\/staging\/src\// && $1 !~ /^k8s\.io\/sample-/ { printf "\t%s => %s %s\n", $1, $1, v }' "$MODFILE"
	echo ")"
	echo
	echo "tool ("
	echo "	k8s.io/kubernetes/cmd/kube-apiserver"
	echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
	echo "	k8s.io/kubernetes/cmd/kubectl"
	echo ")"
} > go.mod
rm -f go.sum
go mod tidy
