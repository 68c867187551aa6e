#!/usr/bin/env bash
# build.sh: the one entry point for building, running, testing and measuring btspeed.
#
#   ./build.sh             build every command into dist/ (and the browser peer and web app into dist/web/)
#   ./build.sh run         build, then start the product
#   ./build.sh edge        build the Cloudflare Worker into dist/edge/ (deploy with wrangler from edge/, docs/edge.md)
#   ./build.sh test        build, then run every test suite (what CI runs)
#   ./build.sh bench [NAME] run benchmarks: NAME picks packages whose path contains it, else it is a -bench regexp;
#                          "browser": the browser peer in Chromium (wasm size, throughput vs WebTorrent, time to ready,
#                          a paid download against the same one free, and from a Transmission seed through the relay's
#                          bridge against the native engine from the same seed);
#                          "speed": how much sooner paying leechers finish when the seed's upload is the bottleneck;
#                          "realseeds": btspeed and qBittorrent downloading from a Transmission and a qBittorrent seed
#                          "swarm": the swarm model calibrated on real engines, then the swarm study (docs/swarm-study.md)
#   ./build.sh fuzz [SECS] run every fuzz target for SECS seconds each (default 30)
#   ./build.sh wasmsize    the browser peer's raw and gzipped size and what it holds, per package (docs/wasm-size.md)
#   ./build.sh help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$PWD
DIST=$ROOT/dist

# Packages whose tests also run as WebAssembly under Node (GOOS=js GOARCH=wasm).
WASM_TEST_PKGS=(./shared/... ./ledger/api ./ledger/client ./ledger/faucet ./ledger/genesis ./engine/storage)
# Packages that must also build for the browser (their tests are native only).
WASM_BUILD_PKGS=(./engine/...)
# Build tags of the browser peer (internal/wasmbuild.Tags, which says why; its test checks this line). tinygo:
# decred's secp256k1 multiplies by the base point without its precomputed table, which costs 0.5 to 0.9 s to
# unpack in wasm on first use; a signature then takes about 3.5 to 5 ms instead of 0.5 to 2 ms, and the build
# can blank the table's data (wasmblank, below; docs/wasm-size.md).
WASM_TAGS=tinygo
# The embed build (internal/wasmbuild.EmbedTag): btspeed-embed.wasm, which the player of <bt-speed> loads, without the
# wallet's TRON side, client.fetch and client.store (docs/wasm-size.md).
WASM_EMBED_TAGS=tinygo,btspeed_embed

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# need TOOL HINT: a missing tool is one line naming it, not a stack of errors.
need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"
}

need_go() {
	need go "install Go 1.26 or newer from https://go.dev/dl/ (Debian's golang package is too old)"
	local v
	v=$(go env GOVERSION)
	v=${v#go}
	case $v in
	1.2[6-9]* | 1.[3-9][0-9]* | [2-9].*) ;;
	*) die "Go $v is too old; btspeed needs Go 1.26 or newer" ;;
	esac
}

# What the tests need besides Go, one entry a tool: "CHECK|DEBIAN PACKAGES|WHAT NEEDS IT". CHECK is a shell test.
TEST_DEPS=(
	"command -v gcc|gcc libc6-dev|the race detector (cgo)"
	"command -v node && command -v npm|nodejs npm|the wasm tests under Node and the JavaScript cross-checks (TronWeb, WebTorrent, miniflare)"
	"has_postgres|postgresql|the ledger's PostgreSQL tests, which start a private server"
	"command -v redis-server|redis-server|the relay's Redis cluster tests, which start a private server"
	"command -v transmission-daemon && command -v transmission-create && command -v transmission-remote|transmission-cli transmission-daemon|the engine's and relay's tests against Transmission"
	"command -v qbittorrent-nox|qbittorrent-nox|the engine's tests against qBittorrent"
	"command -v aria2c|aria2|the engine's tests against aria2"
	"command -v opentracker|opentracker|the engine's tests against opentracker"
	"[ -x /usr/bin/chromium ]|chromium|the browser tests (headless Chromium)"
	"command -v ip|iproute2|the network namespaces the WebRTC and browser tests make"
	"command -v pebble && command -v pebble-challtestsrv|pebble|the relay's and ledger's ACME tests (Let's Encrypt's test CA on loopback)"
)
# What running needs besides Go: nothing today (the relay, ledger and TRON devnet are Go).
RUN_DEPS=()

has_postgres() {
	command -v initdb && command -v postgres && return
	local d
	for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return; done
	return 1
}

# ensure_deps ENTRY...: installs the Debian packages of the entries whose check fails, with apt-get as root or
# through sudo; where it cannot, it prints one line per missing tool and stops.
ensure_deps() {
	local entry check pkgs why missing=() pkg_list=()
	for entry in "$@"; do
		IFS='|' read -r check pkgs why <<<"$entry"
		eval "$check" >/dev/null 2>&1 && continue
		missing+=("$entry")
		read -ra more <<<"$pkgs"
		pkg_list+=("${more[@]}")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	local sudo=
	if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
		sudo=sudo
	fi
	if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
		say "installing ${pkg_list[*]} with apt-get"
		$sudo apt-get update -qq || die "apt-get update failed; install ${pkg_list[*]} by hand"
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkg_list[@]}" >/dev/null ||
			die "apt-get install ${pkg_list[*]} failed"
		missing=()
		for entry in "$@"; do
			IFS='|' read -r check pkgs why <<<"$entry"
			eval "$check" >/dev/null 2>&1 || missing+=("$entry")
		done
		[ ${#missing[@]} -gt 0 ] || return 0
	fi
	local how="as root, or with sudo"
	command -v apt-get >/dev/null || how="with your system's package manager (no apt-get here)"
	for entry in "${missing[@]}"; do
		IFS='|' read -r check pkgs why <<<"$entry"
		printf 'build.sh: missing %s, for %s; install it %s: apt-get install %s\n' "${pkgs%% *}" "$why" "$how" "$pkgs" >&2
	done
	die "install what is missing (listed above), then run this again"
}

version() { git -C "$ROOT" describe --always --dirty 2>/dev/null || echo dev; }

# main_pkgs lists the import paths of every native main package.
main_pkgs() {
	go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./... | grep -v '/wasm$' || true
}

build() {
	need_go
	mkdir -p "$DIST"
	local pkgs
	pkgs=$(main_pkgs)
	say "building $(echo "$pkgs" | xargs -n1 basename | tr '\n' ' ')into dist/"
	# shellcheck disable=SC2086
	go build -trimpath -ldflags "-X main.version=$(version)" -o "$DIST/" $pkgs
	if [ "$(GOOS=js GOARCH=wasm go list -f '{{.Name}}' ./wasm 2>/dev/null || true)" = main ]; then
		say "building the browser peer into dist/web/"
		mkdir -p "$DIST/web"
		# Removed first: go build leaves an output it thinks up to date alone, and a blanked wasm still has its
		# build id, so wasmblank would find no table on a second build.
		rm -f "$DIST/web/btspeed.wasm" "$DIST/web/btspeed-embed.wasm"
		GOOS=js GOARCH=wasm go build -tags "$WASM_TAGS" -trimpath -ldflags "-s -w -X main.version=$(version)" -o "$DIST/web/btspeed.wasm" ./wasm
		GOOS=js GOARCH=wasm go build -tags "$WASM_EMBED_TAGS" -trimpath -ldflags "-s -w -X main.version=$(version)" -o "$DIST/web/btspeed-embed.wasm" ./wasm
		# Zeros over decred's unused precomputed table: 0.5 MB less gzipped (internal/wasmbuild.BlankTable).
		go run ./internal/tools/wasmblank "$DIST/web/btspeed.wasm"
		go run ./internal/tools/wasmblank "$DIST/web/btspeed-embed.wasm"
		cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$DIST/web/"
	fi
	if compgen -G "web/*.html" >/dev/null; then
		mkdir -p "$DIST/web"
		cp -R web/. "$DIST/web/"
		rm -f "$DIST/web/README.md"
	fi
	# The relay serves NAME.gz (Content-Encoding: gzip) to browsers that accept it.
	for w in btspeed btspeed-embed; do
		if [ -f "$DIST/web/$w.wasm" ]; then
			gzip -9 -k -f "$DIST/web/$w.wasm"
		fi
	done
	# And NAME.br (Content-Encoding: br, brotli at quality 11) to those that accept br, as Chromium, Firefox and
	# Safari do: the embed's wasm 1.99 MB against 2.75 MB gzipped. About 40 s the first time; unchanged builds
	# come from the cache (docs/wasm-size.md).
	if [ -f "$DIST/web/btspeed.wasm" ]; then
		go run ./internal/tools/wasmbr -cache "$DIST/.wasmbr-cache" "$DIST/web/btspeed.wasm" "$DIST/web/btspeed-embed.wasm"
	fi
	build_edge
}

# build_edge builds the Cloudflare Worker (edge/worker, syumai/workers) into dist/edge: worker.mjs and the
# JavaScript that loads app.wasm come from syumai/workers' workers-assets-gen.
build_edge() {
	need_go
	say "building the edge Worker into dist/edge/"
	go run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o "$DIST/edge" >/dev/null
	GOOS=js GOARCH=wasm go build -trimpath -ldflags "-s -w -X main.version=$(version)" -o "$DIST/edge/app.wasm" ./edge/worker
}

run_product() {
	need_go
	ensure_deps "${RUN_DEPS[@]}"
	build
	local state=${BTSPEED_STATE:-$ROOT/.btspeed} listen=${BTSPEED_RELAY_LISTEN:-127.0.0.1:8080}
	mkdir -p "$state/demo"
	# The relay's wallet: made once, for this machine only (dev password unless BTSPEED_PASSWORD is set).
	export BTSPEED_PASSWORD=${BTSPEED_PASSWORD:-btspeed-dev-wallet}
	if [ ! -f "$state/relay-wallet.json" ]; then
		"$DIST/btspeed" wallet new --json | sed -E 's/.*"mnemonic":"([^"]*)".*/\1/' |
			"$DIST/btspeed" wallet keystore export --file "$state/relay-wallet.json" --mnemonic - --light >/dev/null
	fi
	# Demo content the relay seeds with Speed on.
	[ -f "$state/demo/btspeed-demo.bin" ] || head -c $((8 << 20)) /dev/urandom >"$state/demo/btspeed-demo.bin"
	local web= dht=off
	[ -d "$DIST/web" ] && web=$DIST/web
	# The demo stays on this machine: the relay's DHT node is off unless BTSPEED_DHT=on (or an address) asks.
	case ${BTSPEED_DHT:-off} in
	off | 0 | no) ;;
	on | 1 | yes) dht=:6881 ;;
	*) dht=$BTSPEED_DHT ;;
	esac
	# The relay prints the banner itself (-banner), with the addresses it actually bound. It is also a paid proxy
	# and a storage provider (1 GiB under its data directory) on loopback, for 'btspeed fetch' and 'btspeed store'.
	exec "$DIST/relay" -banner -listen "$listen" -data "$state/relay" -web "$web" -seed "$state/demo/btspeed-demo.bin" \
		-wallet "$state/relay-wallet.json" -reserve 0.001 -peer-listen 127.0.0.1:0 -dht "$dht" \
		-proxy-listen 127.0.0.1:0 -store-listen 127.0.0.1:0
}

# npm_install DIR: install a test harness's npm packages from its lock file.
npm_install() {
	need node "install Node.js 18 or newer (Debian: apt-get install nodejs npm)"
	need npm "install npm (Debian: apt-get install npm)"
	local dir=$1
	if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
		say "installing npm packages in $dir"
		(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	fi
}

test_all() {
	need_go
	ensure_deps "${TEST_DEPS[@]}"
	build

	say "gofmt"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
	[ -z "$unformatted" ] || die "these files need gofmt -w: $unformatted"

	say "go vet (native and js/wasm)"
	go vet ./...
	go vet -tags btspeed_crashtest ./server/tronsetup # the crash hook, in the crash tests' builds only
	GOOS=js GOARCH=wasm go vet "${WASM_TEST_PKGS[@]}" ./edge/...
	GOOS=js GOARCH=wasm go build "${WASM_BUILD_PKGS[@]}"

	# Cross-check oracles the Go tests call into; a missing one fails the test.
	npm_install interop/tronweb
	npm_install interop/bittorrent-tracker
	npm_install interop/browser
	npm_install interop/webtorrent
	# The edge Worker's tests run it under workerd (miniflare), offline.
	npm_install interop/edge
	export BTSPEED_REQUIRE_INTEROP=1
	# The browser tests drive Debian's Chromium (.ci/run installs it) in network namespaces they make.
	export BTSPEED_REQUIRE_BROWSER=1 BTSPEED_REQUIRE_NETNS=1
	# The browser tests save screenshots of the main screens here.
	export BTSPEED_SCREENSHOTS=${BTSPEED_SCREENSHOTS:-$DIST/screenshots}
	# The PostgreSQL tests start their own throwaway server (ledger/store/pgstore);
	# without PostgreSQL installed they fail here instead of skipping.
	export BTSPEED_REQUIRE_PG=1
	# The engine's interoperability tests need Transmission, qBittorrent, aria2 and opentracker, and the ACME
	# tests Pebble (ensure_deps installs them); without them they fail here instead of skipping.
	export BTSPEED_REQUIRE_CLIENTS=1

	say "go test -race ./..."
	go test -race -count=1 ./...

	say "wasm tests under Node, tags $WASM_TAGS as in the browser: ${WASM_TEST_PKGS[*]}"
	GOOS=js GOARCH=wasm go test -tags "$WASM_TAGS" -count=1 -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" "${WASM_TEST_PKGS[@]}"

	say "all tests passed"
}

bench() {
	need_go
	local name=${1:-} pkgs
	if [ "$name" = browser ]; then
		# The browser peer: wasm size, browser-to-browser throughput against WebTorrent's bundle, time to ready,
		# a paid browser-to-browser download (Speed on, the relay's ledger) against the same one free
		# (BenchmarkBrowserPaid), the embed's time to first frame (BenchmarkBrowserFirstFrame), and a Transmission
		# seed's torrent through the relay's bridge against the native engine from the same seed
		# (BenchmarkBrowserBridge; headless Chromium in a network namespace).
		npm_install interop/browser
		npm_install interop/webtorrent
		BTSPEED_REQUIRE_BROWSER=1 BTSPEED_REQUIRE_NETNS=1 go test -run '^$' -bench Browser -benchtime "${BTSPEED_BENCHTIME:-3x}" ./wasm
		return
	fi
	if [ "$name" = realseeds ]; then
		# From real seeds (Transmission, qBittorrent): btspeed against qBittorrent and aria2 as the downloader, 256 MiB.
		go test -run '^$' -bench RealSeeds -benchtime "${BTSPEED_BENCHTIME:-1x}" ./engine
		return
	fi
	if [ "$name" = speed ]; then
		# Speed pays off: the speed-up of the paying leechers in a swarm whose seed's upload is the bottleneck.
		go test -run '^$' -bench SpeedPaysOff -benchtime "${BTSPEED_BENCHTIME:-1x}" ./engine
		return
	fi
	if [ "$name" = swarm ]; then
		# Does Speed keep swarms alive (docs/swarm-study.md): the model against real engines, then the study's figures.
		# -v: without it go test cuts a benchmark's log, the table, after ten lines.
		go test -v -timeout 30m -run '^$' -bench SwarmCalibration -benchtime "${BTSPEED_BENCHTIME:-1x}" ./engine
		go run ./cmd/swarmstudy -seed "${BTSPEED_SEED:-1}" -out docs/swarm-study
		return
	fi
	if [ -z "$name" ]; then
		pkgs=$(go list ./...)
		name=.
	else
		pkgs=$(go list ./... | grep -- "$name" || true)
		if [ -n "$pkgs" ]; then
			name=.
		else
			pkgs=$(go list ./...)
		fi
	fi
	# shellcheck disable=SC2086
	go test -run '^$' -bench "$name" -benchmem $pkgs
}

fuzz() {
	need_go
	local secs=${1:-30} pkg target
	for pkg in $(go list ./...); do
		for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
			say "fuzzing $pkg $target for ${secs}s"
			go test "$pkg" -run '^$' -fuzz "^$target\$" -fuzztime "${secs}s"
		done
	done
}

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

case ${1:-build} in
build) build ;;
run) run_product ;;
edge) build_edge ;;
test) test_all ;;
bench) bench "${2:-}" ;;
fuzz) fuzz "${2:-}" ;;
wasmsize)
	need_go
	go run ./internal/tools/wasmsize "${@:2}"
	;;
help | -h | --help) usage ;;
*)
	usage >&2
	die "unknown command '$1'"
	;;
esac
