// Package wasm is the browser peer: the BitTorrent engine with Speed,
// compiled to WebAssembly, talking WebRTC through pion's js/wasm bindings and
// exposing the JS API (window.BTSpeed) and the <bt-speed> element that
// publishers embed. build.sh compiles it to dist/web/btspeed.wasm.
//
// The browser peer lands with issue 7; this file marks the package's place.
package wasm
