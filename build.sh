#!/usr/bin/env bash
# build.sh: the one entry point for building, running, testing and measuring btspeed.
#
#   ./build.sh             build every command into dist/ (and the browser peer and web app into dist/web/)
#   ./build.sh run         build, then start the product
#   ./build.sh edge        build the Cloudflare Worker into dist/edge/ (deploy with wrangler from edge/, docs/edge.md)
#   ./build.sh test        build, then run every test suite (what CI runs)
#   ./build.sh bench [NAME] run benchmarks: NAME picks packages whose path contains it, else it is a -bench regexp;
#                          "browser": the browser peer in Chromium (wasm size, throughput vs WebTorrent, time to ready)
#   ./build.sh fuzz [SECS] run every fuzz target for SECS seconds each (default 30)
#   ./build.sh help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$PWD
DIST=$ROOT/dist

# Packages whose tests also run as WebAssembly under Node (GOOS=js GOARCH=wasm).
WASM_TEST_PKGS=(./shared/... ./ledger/api ./ledger/client ./ledger/faucet ./ledger/genesis ./engine/storage)
# Packages that must also build for the browser (their tests are native only).
WASM_BUILD_PKGS=(./engine/...)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# need TOOL HINT: a missing tool is one line naming it, not a stack of errors.
need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"
}

need_go() {
	need go "install Go 1.26 or newer from https://go.dev/dl/ (or run .ci/run, which checks the machine)"
	local v
	v=$(go env GOVERSION)
	v=${v#go}
	case $v in
	1.2[6-9]* | 1.[3-9][0-9]* | [2-9].*) ;;
	*) die "Go $v is too old; btspeed needs Go 1.26 or newer" ;;
	esac
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
		GOOS=js GOARCH=wasm go build -trimpath -ldflags "-s -w -X main.version=$(version)" -o "$DIST/web/btspeed.wasm" ./wasm
		cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$DIST/web/"
	fi
	if compgen -G "web/*.html" >/dev/null; then
		mkdir -p "$DIST/web"
		cp -R web/. "$DIST/web/"
		rm -f "$DIST/web/README.md"
	fi
	# The relay serves NAME.gz (Content-Encoding: gzip) to browsers that accept it.
	if [ -f "$DIST/web/btspeed.wasm" ]; then
		gzip -9 -k -f "$DIST/web/btspeed.wasm"
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
	local web=
	[ -d "$DIST/web" ] && web=$DIST/web
	echo
	echo "btspeed $(version)"
	echo "  relay    http://$listen   (tracker: /announce, ws://$listen ; ledger gateway: /ledger/v1/info ; /metrics)"
	echo "  ledger   embedded, dev genesis, faucet on; data in $state/relay"
	echo "  tron     embedded devnet (a block every 3 s, BTT token 1002000): HTTP API http://$listen/tron/wallet/..., gRPC 127.0.0.1:50051"
	echo "  exchange the ledger credits BTT sent on TRON to its exchange address (GET /ledger/v1/exchange) and sends withdrawals back"
	echo "  seeding  $state/demo/btspeed-demo.bin with Speed (reserve 0.001 BTT/MiB), earning for $state/relay-wallet.json"
	echo "  try      dist/btspeed get MAGNET --out /tmp --ledger http://$listen/ledger   (the magnet link is printed below)"
	echo "           dist/btspeed ledger withdraw 5 --ledger http://$listen/ledger   (faucet BTT to TRON), then: dist/btspeed ledger deposit 5 --ledger http://$listen/ledger"
	echo "Open http://$listen/ in a browser: make a wallet, claim test BTT from the faucet, download the demo. Ctrl-C stops."
	echo
	exec "$DIST/relay" -listen "$listen" -data "$state/relay" -web "$web" -seed "$state/demo/btspeed-demo.bin" \
		-wallet "$state/relay-wallet.json" -reserve 0.001 -peer-listen 127.0.0.1:0
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
	build
	need gcc "the race detector needs cgo: install gcc (Debian: apt-get install gcc)"

	say "gofmt"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
	[ -z "$unformatted" ] || die "these files need gofmt -w: $unformatted"

	say "go vet (native and js/wasm)"
	go vet ./...
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
	# The engine's interoperability tests need Transmission, qBittorrent, aria2 and opentracker (.ci/run installs
	# them); without them they fail here instead of skipping.
	export BTSPEED_REQUIRE_CLIENTS=1

	say "go test -race ./..."
	go test -race -count=1 ./...

	say "wasm tests under Node: ${WASM_TEST_PKGS[*]}"
	GOOS=js GOARCH=wasm go test -count=1 -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" "${WASM_TEST_PKGS[@]}"

	say "all tests passed"
}

bench() {
	need_go
	local name=${1:-} pkgs
	if [ "$name" = browser ]; then
		# The browser peer: wasm size, browser-to-browser throughput against WebTorrent's bundle, time to ready
		# (headless Chromium in a network namespace).
		npm_install interop/browser
		npm_install interop/webtorrent
		BTSPEED_REQUIRE_BROWSER=1 BTSPEED_REQUIRE_NETNS=1 go test -run '^$' -bench Browser -benchtime "${BTSPEED_BENCHTIME:-3x}" ./wasm
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

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

case ${1:-build} in
build) build ;;
run) run_product ;;
edge) build_edge ;;
test) test_all ;;
bench) bench "${2:-}" ;;
fuzz) fuzz "${2:-}" ;;
help | -h | --help) usage ;;
*)
	usage >&2
	die "unknown command '$1'"
	;;
esac
