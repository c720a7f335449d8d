# Shared by tools/test and tools/demo: install what is missing, build.
# Sourced, not run.

# What a fresh Debian 12 needs to build and test weft.
WEFT_PACKAGES=(
	gcc libc6-dev pkg-config meson ninja-build python3
	libsodium-dev libssl-dev libmsgpack-dev libuv1-dev libnghttp2-dev libcmocka-dev
	libjansson-dev libhttp-parser-dev
	clang libclang-rt-14-dev
	iproute2 procps
	# For the tests: captures (no plaintext between agents), the test
	# bed's fault rules, `promtool check metrics`, unit file checks.
	tcpdump nftables prometheus systemd
	# For the HTTP tests (tests/integration/t_http.sh): real HTTP/1.1,
	# h2c and gRPC clients and servers through the mesh.
	curl nghttp2-client nghttp2-server python3-grpcio
)

weft_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

weft_say() { printf '==> [%4ds] %s\n' "$SECONDS" "$*" >&2; }

weft_missing_packages() {
	local p
	for p in "${WEFT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || printf '%s\n' "$p"
	done
}

# Installs missing packages when root; otherwise names the command and
# exits 2, so a user is never left guessing.
weft_ensure_packages() {
	local missing
	mapfile -t missing < <(weft_missing_packages)
	[ "${#missing[@]}" -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "weft: these Debian packages are missing: ${missing[*]}" >&2
		echo "weft: install them as root with:" >&2
		echo "  apt-get install -y ${missing[*]}" >&2
		exit 2
	fi
	weft_say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || { echo "weft: apt-get update failed" >&2; exit 1; }
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		{ echo "weft: apt-get install ${missing[*]} failed" >&2; exit 1; }
}

# weft_build DIR [meson options...]: configure once, then build.
weft_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$weft_top" "$@" >"$dir.setup.log" 2>&1 || {
			cat "$dir.setup.log" >&2
			return 1
		}
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 || {
		grep -E 'error|FAILED' -A3 "$dir.ninja.log" | head -60 >&2
		return 1
	}
}
