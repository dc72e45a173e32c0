#!/bin/sh
# build-kube.sh builds the lab's Kubernetes binaries -- kube-apiserver,
# kube-controller-manager, kubectl and etcd -- from the Go module proxy using
# the pinned build module in lab/kube, into a cache directory outside the
# repository. It is idempotent: when all four binaries exist and the stamp file
# records the same pinned version, build inputs and Go toolchain, it does nothing.
#
# Environment:
#   SLUICE_LAB_BIN  output directory (default /var/cache/sluice-lab/bin)
#   NICE            prefix for the go commands, e.g. "nice -n 10" (default empty)
#
# Prints the output directory on success.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
KUBE="$HERE/kube"
BIN=${SLUICE_LAB_BIN:-/var/cache/sluice-lab/bin}
NICE=${NICE:-}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly

# The pinned version is the one k8s.io/kubernetes is required at in lab/kube/go.mod.
V=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' "$KUBE/go.mod")
[ -n "$V" ] || { echo "build-kube: no k8s.io/kubernetes version in $KUBE/go.mod" >&2; exit 1; }
MINOR=$(echo "$V" | cut -d. -f2)

STAMP="$BIN/.stamp"
WANT="$V $(go env GOVERSION) $(cat "$KUBE/go.mod" "$KUBE/go.sum" "$KUBE/cmd/etcd/main.go" | sha256sum | cut -c1-16)"
BINS="kube-apiserver kube-controller-manager kubectl etcd"

uptodate() {
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] || return 1
	for b in $BINS; do [ -x "$BIN/$b" ] || return 1; done
}

if uptodate; then
	echo "build-kube: $V binaries up to date in $BIN" >&2
	echo "$BIN"
	exit 0
fi

# The proxy serves .info/.mod for some versions but refuses the zip (403); ask
# for exactly the pinned version's zip so that shows up as one clear message.
cd "$KUBE"
if ! out=$(go mod download k8s.io/kubernetes 2>&1); then
	echo "build-kube: the Go module proxy refuses k8s.io/kubernetes@$V:" >&2
	echo "$out" >&2
	echo "build-kube: pin another version with lab/kube/gen-gomod.sh vX.Y.Z" >&2
	exit 1
fi

LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	LD="$LD -X $p.gitVersion=$V -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$BIN"
rm -f "$STAMP"
for c in kube-apiserver kube-controller-manager kubectl; do
	echo "build-kube: building $c $V" >&2
	$NICE go build -trimpath -ldflags "$LD" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c"
	mv "$BIN/$c.tmp" "$BIN/$c"
done
echo "build-kube: building etcd" >&2
$NICE go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" ./cmd/etcd
mv "$BIN/etcd.tmp" "$BIN/etcd"
echo "$WANT" > "$STAMP"
echo "$BIN"
