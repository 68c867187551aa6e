package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"testing"
)

// TestEveryCodeHasAStatus reads ledger/api's Code constants from its source
// and checks that the HTTP layer maps each to a 4xx or 5xx status, so a new
// code cannot reach a client as a 500 by omission.
func TestEveryCodeHasAStatus(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "api/api.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || len(vs.Names[0].Name) < 5 || vs.Names[0].Name[:4] != "Code" {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			c, _ := strconv.Unquote(lit.Value)
			codes = append(codes, c)
		}
		return true
	})
	if len(codes) < 20 {
		t.Fatalf("found %d codes in api/api.go; the parse missed them", len(codes))
	}
	for _, c := range codes {
		s, ok := codeStatus[c]
		if !ok || s < 400 || s > 599 || http.StatusText(s) == "" {
			t.Errorf("code %q maps to status %d (listed %v)", c, s, ok)
		}
	}
	if len(codeStatus) != len(codes) {
		t.Errorf("codeStatus has %d entries, api has %d codes", len(codeStatus), len(codes))
	}
}
