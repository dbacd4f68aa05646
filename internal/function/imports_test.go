package function

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The function runs as its own package, beside any provider version: it
// may use the API types and the pure address logic, never the provider's
// controllers or clients.
func TestFunctionDependsOnAPITypesOnly(t *testing.T) {
	const module = "github.com/provider-ipam/provider-ipam/"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) && !strings.HasPrefix(p, module+"apis/") && p != module+"internal/addressing" {
				t.Errorf("%s imports %s", file, p)
			}
		}
	}
}
