// Command wasmsize measures the browser peer: it builds ./wasm as build.sh does (GOOS=js GOARCH=wasm, the
// tags of internal/wasmbuild, -trimpath -ldflags "-s -w", decred's table blanked if it holds it), prints its
// raw and gzipped sizes, and prints a per-package table of the code the linker kept, from a second build with
// symbols.
//
// `go tool nm` does not read WebAssembly, so the table comes from the binary itself: the code section gives
// each function body's size and the "name" custom section its Go symbol name, whose package prefix is the row.
// Data (read-only tables, strings, type descriptors) sits in unnamed data segments and is one row.
//
// Usage, from the repository root:
//
//	go run ./internal/tools/wasmsize [-pkg ./wasm] [-embed] [-top 40] [-md]
//
// -embed measures the embed build (wasmbuild.EmbedArgs: the wasm the player of <bt-speed> loads).
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/btspeed/btspeed/internal/wasmbuild"
)

func main() {
	pkg := flag.String("pkg", "./wasm", "the main package to build for js/wasm")
	top := flag.Int("top", 40, "rows to print before grouping the rest as \"other\"")
	embed := flag.Bool("embed", false, "measure the embed build (-tags "+wasmbuild.Tags+","+wasmbuild.EmbedTag+")")
	md := flag.Bool("md", false, "print the table as Markdown")
	in := flag.String("in", "", "instead of packages, list the functions of this package, largest first")
	flag.Parse()
	if *embed {
		tagArgs = wasmbuild.EmbedArgs()
	}
	if err := run(*pkg, *in, *top, *md, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		os.Exit(1)
	}
}

func run(pkg, in string, top int, md bool, w io.Writer) error {
	dir, err := os.MkdirTemp("", "wasmsize")
	if err != nil {
		return fmt.Errorf("making a temporary folder: %w", err)
	}
	defer os.RemoveAll(dir)
	stripped := filepath.Join(dir, "stripped.wasm")
	if err := build(pkg, stripped, "-s -w"); err != nil {
		return err
	}
	if err := wasmbuild.BlankTable(".", stripped); err != nil && !errors.Is(err, wasmbuild.ErrTableNotFound) {
		return err
	}
	withNames := filepath.Join(dir, "names.wasm")
	if err := build(pkg, withNames, ""); err != nil {
		return err
	}
	raw, err := os.ReadFile(stripped)
	if err != nil {
		return fmt.Errorf("reading the build: %w", err)
	}
	gz, err := gzipSize(raw)
	if err != nil {
		return err
	}
	named, err := os.ReadFile(withNames)
	if err != nil {
		return fmt.Errorf("reading the build with symbols: %w", err)
	}
	m, err := parse(named)
	if err != nil {
		return fmt.Errorf("reading %s: %w", withNames, err)
	}
	pkgs, err := deps(pkg)
	if err != nil {
		return err
	}
	rows := m.byPackage(pkgs)
	if in != "" {
		rows = m.functionsOf(in, pkgs)
	}
	fmt.Fprintf(w, "%s as build.sh builds it (-tags %s -trimpath -ldflags \"-s -w\", wasmblank): %d bytes raw (%.2f MB), %d bytes gzip -9 (%.2f MB)\n\n",
		pkg, tagArgs[1], len(raw), mb(len(raw)), gz, mb(gz))
	unit := "packages"
	if in != "" {
		unit = "functions"
	}
	printTable(w, rows, top, md, unit)
	return nil
}

// tagArgs are the -tags arguments of the build measured.
var tagArgs = wasmbuild.Args()

func build(pkg, out, ldflags string) error {
	args := append([]string{"build"}, tagArgs...)
	args = append(args, "-trimpath")
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s for js/wasm: %w", pkg, err)
	}
	return nil
}

// deps returns the js/wasm build's packages, keyed by their names as the linker writes them in the name
// section: every character other than a letter, digit, underscore or dot becomes an underscore.
func deps(pkg string) (map[string]string, error) {
	cmd := exec.Command("go", append(append([]string{"list"}, tagArgs...), "-deps", "-f", "{{.ImportPath}}", pkg)...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the packages of %s: %w", pkg, err)
	}
	pkgs := map[string]string{}
	for _, p := range strings.Fields(string(out)) {
		pkgs[mangle(p)] = p
	}
	pkgs["main"] = "main (" + pkg + ")"
	return pkgs, nil
}

func mangle(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '_'
	}, s)
}

func gzipSize(b []byte) (int, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(b); err != nil {
		return 0, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("gzip: %w", err)
	}
	return buf.Len(), nil
}

func mb(n int) float64 { return float64(n) / 1e6 }

// row is one package's share of the binary.
type row struct {
	name  string
	bytes int
}

func printTable(w io.Writer, rows []row, top int, md bool, unit string) {
	total := 0
	for _, r := range rows {
		total += r.bytes
	}
	if len(rows) > top {
		rest := row{name: fmt.Sprintf("other (%d %s)", len(rows)-top, unit)}
		for _, r := range rows[top:] {
			rest.bytes += r.bytes
		}
		rows = append(rows[:top:top], rest)
	}
	if md {
		fmt.Fprintf(w, "| %s | bytes | share |\n", strings.TrimSuffix(unit, "s"))
		fmt.Fprintln(w, "|---|---:|---:|")
	} else {
		fmt.Fprintf(w, "%-60s %10s %6s\n", strings.TrimSuffix(unit, "s"), "bytes", "share")
	}
	for _, r := range append(rows, row{name: "total", bytes: total}) {
		share := 100 * float64(r.bytes) / float64(total)
		if md {
			fmt.Fprintf(w, "| %s | %d | %.1f%% |\n", r.name, r.bytes, share)
		} else {
			fmt.Fprintf(w, "%-60s %10d %5.1f%%\n", r.name, r.bytes, share)
		}
	}
}

// module is what wasmsize needs of a WebAssembly binary.
type module struct {
	imports int            // imported functions, which come first in the function index space
	bodies  []int          // code size of each defined function, in index order after the imports
	names   map[int]string // function index to name, from the "name" section
	data    int            // bytes in data segments
}

func (m *module) byPackage(pkgs map[string]string) []row {
	sizes := map[string]int{}
	for i, n := range m.bodies {
		sizes[packageOf(m.names[m.imports+i], pkgs)] += n
	}
	sizes["(data segments: strings, tables, type data)"] += m.data
	rows := make([]row, 0, len(sizes))
	for name, n := range sizes {
		rows = append(rows, row{name, n})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].bytes != rows[j].bytes {
			return rows[i].bytes > rows[j].bytes
		}
		return rows[i].name < rows[j].name
	})
	return rows
}

// functionsOf returns the code size of each function of the package with import path in.
func (m *module) functionsOf(in string, pkgs map[string]string) []row {
	var rows []row
	for i, n := range m.bodies {
		name := m.names[m.imports+i]
		if packageOf(name, pkgs) == in {
			rows = append(rows, row{name, n})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].bytes > rows[j].bytes })
	return rows
}

// packageOf returns the import path of a function from its name in the name section, such as
// "github.com_a_b.__T_.M" for github.com/a/b.(*T).M: the longest package name that, followed by a dot,
// begins it.
func packageOf(sym string, pkgs map[string]string) string {
	if sym == "" {
		return "(unnamed)"
	}
	best := ""
	for i := strings.IndexByte(sym, '.'); i >= 0; {
		if p, ok := pkgs[sym[:i]]; ok {
			best = p
		}
		next := strings.IndexByte(sym[i+1:], '.')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	if best != "" {
		return best
	}
	if i := strings.IndexAny(sym, ".:_"); i > 0 {
		return "(" + sym[:i] + ")"
	}
	return "(" + sym + ")"
}

// reader reads the LEB128 and length-prefixed values of a WebAssembly binary.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.err = errors.New("unexpected end of the binary")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uleb() int {
	v, shift := 0, 0
	for r.err == nil {
		c := r.byte()
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.err = errors.New("a length runs past the end of the binary")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// constExpr skips a constant expression such as i32.const N; end.
func (r *reader) constExpr() {
	r.byte()
	r.uleb() // a signed LEB128 has the same byte layout
	if r.byte() != 0x0b && r.err == nil {
		r.err = errors.New("an offset expression longer than one instruction")
	}
}

func (r *reader) name() string { return string(r.bytes(r.uleb())) }

// limits skips a table's or memory's limits.
func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.uleb()
	}
	r.uleb()
}

func parse(b []byte) (*module, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly binary")
	}
	m := &module{names: map[int]string{}}
	r := &reader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &reader{b: r.bytes(r.uleb())}
		switch id {
		case 2:
			m.readImports(sec)
		case 10:
			for n := sec.uleb(); n > 0 && sec.err == nil; n-- {
				m.bodies = append(m.bodies, len(sec.bytes(sec.uleb())))
			}
		case 11:
			m.readData(sec)
		case 0:
			if sec.name() == "name" {
				m.readNames(sec)
			}
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	return m, r.err
}

func (m *module) readImports(r *reader) {
	for n := r.uleb(); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		switch r.byte() {
		case 0:
			r.uleb()
			m.imports++
		case 1:
			r.byte()
			r.limits()
		case 2:
			r.limits()
		case 3:
			r.byte()
			r.byte()
		}
	}
}

func (m *module) readData(r *reader) {
	for n := r.uleb(); n > 0 && r.err == nil; n-- {
		switch r.uleb() {
		case 0: // active, memory 0: an offset expression (i32.const N end), then the bytes
			r.constExpr()
		case 2: // active, memory given
			r.uleb()
			r.constExpr()
		}
		m.data += len(r.bytes(r.uleb()))
	}
}

func (m *module) readNames(r *reader) {
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sub := &reader{b: r.bytes(r.uleb())}
		if id != 1 {
			continue
		}
		for n := sub.uleb(); n > 0 && sub.err == nil; n-- {
			idx := sub.uleb()
			m.names[idx] = sub.name()
		}
		r.err = sub.err
	}
}
