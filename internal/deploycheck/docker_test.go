package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dockerignore reads the build context's .dockerignore patterns.
func dockerignore(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(path(t, ".dockerignore"))
	if err != nil {
		t.Fatalf("the build context (the repository root, see deploy/Dockerfile) has no .dockerignore: %v", err)
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// ignored reports whether a pattern excludes rel, for the patterns used here (a path from the
// context root, optionally under "**/", with filepath.Match wildcards; a directory excludes what
// is in it).
func ignored(patterns []string, rel string) bool {
	out := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		match := false
		for _, cand := range prefixes(rel) {
			if ok, _ := filepath.Match(p, cand); ok {
				match = true
			}
			if rest, ok := strings.CutPrefix(p, "**/"); ok {
				parts := strings.Split(cand, "/")
				for i := range parts {
					if ok, _ := filepath.Match(rest, strings.Join(parts[i:], "/")); ok {
						match = true
					}
				}
			}
		}
		if match {
			out = !neg
		}
	}
	return out
}

// prefixes are rel and its parent directories.
func prefixes(rel string) []string {
	parts := strings.Split(rel, "/")
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.Join(parts[:i+1], "/")
	}
	return out
}

// The image is built from the repository without its history or local drafts (postmortems people
// wrote while trying postmortemd out, under the default --drafts-dir), and with every file the
// build needs.
func TestDockerignore(t *testing.T) {
	patterns := dockerignore(t)
	for _, rel := range []string{".git/HEAD", ".git/objects/ab/cdef", "postmortems/2026-11-23-highlatency-9f86d081.md", "postmortem" + "d"} {
		if !ignored(patterns, rel) {
			t.Errorf("%s is sent to the Docker build context", rel)
		}
	}
	needed := []string{"go.mod", "go.sum", "deploy/Dockerfile"}
	err := filepath.WalkDir(root(t), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root(t), p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && (rel == ".git" || rel == "postmortems") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") {
			needed = append(needed, rel)
		}
		if !d.IsDir() && (strings.Contains(rel, "/templates/") || strings.Contains(rel, "/assets/")) {
			needed = append(needed, rel) // embedded into the binary
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range needed {
		if ignored(patterns, rel) {
			t.Errorf("%s is left out of the Docker build context, but the build needs it", rel)
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Errorf(".dockerignore lacks .git")
	}
}
