package parley

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// goDirs returns every directory of the module that holds Go files.
func goDirs(t *testing.T) map[string][]string {
	t.Helper()
	dirs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 2 {
		t.Fatalf("found only %d package directories", len(dirs))
	}
	return dirs
}

// TestEveryPackageHasDocComment fails when a package has no doc comment
// (STYLE.md: every package says what it is for).
func TestEveryPackageHasDocComment(t *testing.T) {
	for dir, files := range goDirs(t) {
		documented := false
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package in %s has no doc comment", dir)
		}
	}
}

// TestFileLength keeps every Go file under the house limit.
func TestFileLength(t *testing.T) {
	const limit = 800
	for _, files := range goDirs(t) {
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for sc := bufio.NewScanner(fh); sc.Scan(); {
				n++
			}
			fh.Close()
			if n > limit {
				t.Errorf("%s has %d lines (limit %d)", f, n, limit)
			}
		}
	}
}

// TestKnownAnswerEncapsulationOnlyInTests keeps crypto/mlkem/mlkemtest,
// which Go documents as for known-answer tests only, out of every binary:
// only internal/kat may import it, and only tests may import internal/kat.
// So no non-test package depends on it, directly or not. And no code but
// tests passes its own KEM step to PQXDH (InitiateWith, PairWith) outside
// the packages that define those.
func TestKnownAnswerEncapsulationOnlyInTests(t *testing.T) {
	const (
		mlkemtest = "crypto/mlkem/mlkemtest"
		kat       = "github.com/parley-chat/parley/internal/kat"
	)
	katDir := filepath.FromSlash("internal/kat")
	encapsulatorDirs := []string{"internal/pqxdh", "internal/session", "internal/protocoltest"}
	checked := 0
	for dir, files := range goDirs(t) {
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			if !slices.Contains(encapsulatorDirs, filepath.ToSlash(dir)) {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(src), "InitiateWith(") || strings.Contains(string(src), "PairWith(") {
					t.Errorf("%s chooses the KEM step of PQXDH; only tests may", f)
				}
			}
			for _, imp := range af.Imports {
				switch path := strings.Trim(imp.Path.Value, `"`); {
				case path == mlkemtest && dir != katDir:
					t.Errorf("%s imports %s; only internal/kat may", f, mlkemtest)
				case path == kat:
					t.Errorf("%s imports %s; only tests may", f, kat)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no Go files checked")
	}
}

// TestFuzzTargetsRunFast: every package with a native fuzz target runs
// fuzztest.Main as its TestMain (without it Go minimises each new input
// for up to 60 s and a short fuzzing run tries almost nothing, see
// docs/BENCHMARKS.md), and every target adds seeds of its own (f.Add) or
// has a corpus in testdata/fuzz (STYLE.md: a target with no corpus tests
// nothing).
func TestFuzzTargetsRunFast(t *testing.T) {
	targets := 0
	for dir, files := range goDirs(t) {
		var fuzz []string
		hasMain := false
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range af.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv != nil || fn.Body == nil {
					continue
				}
				switch {
				case fn.Name.Name == "TestMain":
					hasMain = calls(fn.Body, "fuzztest", "Main")
				case strings.HasPrefix(fn.Name.Name, "Fuzz") && len(fn.Type.Params.List) == 1 &&
					len(fn.Type.Params.List[0].Names) == 1:
					fuzz = append(fuzz, fn.Name.Name)
					if f := fn.Type.Params.List[0].Names[0].Name; !calls(fn.Body, f, "Add") && !hasCorpus(dir, fn.Name.Name) {
						t.Errorf("%s in %s adds no seeds and has no testdata/fuzz corpus", fn.Name.Name, dir)
					}
				}
			}
		}
		targets += len(fuzz)
		if len(fuzz) > 0 && !hasMain {
			t.Errorf("%s has fuzz targets (%s) but its TestMain is not fuzztest.Main", dir, strings.Join(fuzz, ", "))
		}
	}
	if targets == 0 {
		t.Fatal("no fuzz targets found")
	}
}

// calls reports whether body calls x.sel.
func calls(body ast.Node, x, sel string) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if s, ok := c.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == sel {
				if id, ok := s.X.(*ast.Ident); ok && id.Name == x {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// hasCorpus reports whether dir holds a non-empty testdata/fuzz/name.
func hasCorpus(dir, name string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, "testdata", "fuzz", name))
	return err == nil && len(entries) > 0
}
