#!/usr/bin/env bash
# deps.sh installs what Sluice's build, tests and benchmarks need on a Debian machine.
#
# Idempotent: a package already installed is not fetched again, and a machine that has everything
# returns in well under a second. Only Debian's archive is used (plus its non-free component for
# netperf); Go modules come through the Go module proxy when `go` needs them.
#
# Usage: hack/deps.sh [build|test|bench|all]   (default: all)
set -euo pipefail

want=${1:-all}

# Packages by purpose. clang/llvm/libbpf-dev and protobuf-compiler are only needed to regenerate the committed
# bpf2go and protobuf output (make generate); tests never compile C.
build_pkgs=(clang llvm libbpf-dev protobuf-compiler)
test_pkgs=(openvswitch-switch iproute2 iputils-ping util-linux coreutils ethtool iperf3 tcpdump conntrack nftables procps psmisc)
bench_pkgs=(netperf)

pkgs=()
case "$want" in
build) pkgs=("${build_pkgs[@]}") ;;
test) pkgs=("${test_pkgs[@]}") ;;
bench) pkgs=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
all) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*)
	echo "deps.sh: unknown set '$want' (want build, test, bench or all)" >&2
	exit 2
	;;
esac

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages ${missing[*]}; run as root (or: sudo $0 $want)" >&2
	exit 1
fi

# netperf lives in Debian's non-free component: add it for the same archive and suite the
# machine already uses.
for p in "${missing[@]}"; do
	[ "$p" = netperf ] || continue
	src=/etc/apt/sources.list.d/sluice-non-free.sources
	if [ ! -f "$src" ]; then
		. /etc/os-release
		cat >"$src" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${VERSION_CODENAME}
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	fi
done

export DEBIAN_FRONTEND=noninteractive
# Third-party sources configured on some images are unreachable here; apt ignores them with a
# warning, so the update's exit status is not a verdict on its own — the install below is.
apt-get update -qq || echo "deps.sh: apt-get update reported errors; trying the install anyway" >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: installed ${missing[*]}"
