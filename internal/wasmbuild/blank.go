package wasmbuild

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// decred is the module whose precomputed table BlankTable blanks.
const decred = "github.com/decred/dcrd/dcrec/secp256k1/v4"

// ErrTableNotFound is returned by BlankTable when the linked peer does not hold decred's table exactly once
// (decred changed how it stores the table, or the file was not built from this module).
var ErrTableNotFound = errors.New("decred's precomputed table is not in the wasm exactly once")

// BlankTable overwrites with zero bytes, in the linked browser peer at path, the data of decred secp256k1's
// precomputed table of base-point multiples: the string compressedBytePoints (698 KB of base64, about 0.5 MB
// of the gzipped file) that decred's init keeps linked in every build. The peer is built with Tags, so decred
// multiplies by the base point without the table and never reads it (mustLoadBytePoints is only called from
// curve_precompute.go, which the tinygo tag leaves out); the zeros gzip to almost nothing. Only for a peer
// built with Tags: without them, the first key operation would panic on the blank table. The string is read
// from decred's source in the module cache, so a decred that stores it differently fails the build here
// instead of blanking something else. dir is a folder of this module (for go list).
func BlankTable(dir, path string) error {
	table, err := decredTable(dir)
	if err != nil {
		return err
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the browser peer: %w", err)
	}
	i := bytes.Index(wasm, table)
	if i < 0 || bytes.Count(wasm[i+1:], table) != 0 {
		return fmt.Errorf("%s: %w", path, ErrTableNotFound)
	}
	clear(wasm[i : i+len(table)])
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		return fmt.Errorf("writing the browser peer: %w", err)
	}
	return nil
}

// decredTable returns the value of compressedBytePoints from decred's compressedbytepoints.go, in the version
// this module requires.
func decredTable(dir string) ([]byte, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", decred)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("finding %s: %w", decred, err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "compressedbytepoints.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("reading decred's table: %w", err)
	}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.VAR {
			continue
		}
		for _, spec := range gen.Specs {
			v := spec.(*ast.ValueSpec)
			if len(v.Names) != 1 || v.Names[0].Name != "compressedBytePoints" || len(v.Values) != 1 {
				continue
			}
			lit, ok := v.Values[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				break
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return nil, fmt.Errorf("reading decred's table in %s: %w", file, err)
			}
			return []byte(s), nil
		}
	}
	return nil, fmt.Errorf("%s: no string compressedBytePoints: %w", file, ErrTableNotFound)
}
