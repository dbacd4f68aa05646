package function

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The function runs as its own package, beside any provider version: it
// and its infrastructure packages may use the API types, the pure address
// logic and each other, never the provider's controllers or clients.
func TestFunctionDependsOnAPITypesOnly(t *testing.T) {
	const module = "github.com/provider-ipam/provider-ipam/"
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) && !strings.HasPrefix(p, module+"apis/") && p != module+"internal/addressing" && !strings.HasPrefix(p, module+"internal/function/") {
				t.Errorf("%s imports %s", file, p)
			}
		}
	}
}
