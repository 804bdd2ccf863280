package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// A green `go test ./...` that skipped the integration tests for want of a server would hide that
// they never ran. So every skip for a missing server is recorded, and Main, which each package's
// TestMain calls, reports them when the package's tests end: which tests, and the one apt-get
// command that installs what they need. Under CI=true nothing is skipped: a missing server fails
// the test instead.
//
// go test shows a passing package's output only with -v, so the report is written to the go
// command's own standard error when the test binary runs under it (on Linux, through /proc), and to
// the binary's otherwise. Packages of one go test run also append their skips to a file named after
// the go command's process id, so each report ends with the apt-get command for everything
// skipped so far in the run: the last one printed covers the whole run.

type skip struct {
	test, what, pkg string // pkg is the Debian package that installs what, "" when none does
}

var (
	skipsMu sync.Mutex
	skips   []skip
)

// skipMissing skips tb because what is missing, recording it for Main, or fails tb under CI=true.
// hint says how to get what; its "apt-get install PKG" names the package for the report.
func skipMissing(tb testing.TB, what, hint string) {
	tb.Helper()
	pkg := ""
	if _, rest, ok := strings.Cut(hint, "apt-get install "); ok {
		if f := strings.Fields(rest); len(f) > 0 {
			pkg = strings.TrimRight(f[0], ",;)")
		}
	}
	skipOrFail(tb, what, pkg, fmt.Sprintf("%s not found", what), "install it: "+hint)
}

// skipOrFail fails tb under CI=true, where nothing may be skipped, and otherwise records the skip
// (tb needs what, which the Debian package pkg installs) and skips tb, saying why and what to do.
func skipOrFail(tb testing.TB, what, pkg, why, todo string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("testenv: %s, and CI=true so this test may not be skipped; %s", why, todo)
	}
	skipsMu.Lock()
	skips = append(skips, skip{test: tb.Name(), what: what, pkg: pkg})
	skipsMu.Unlock()
	tb.Skipf("testenv: %s; skipping (%s)", why, todo)
}

// Main runs m's tests, reports the tests skipped for want of a server (see above), and returns the
// exit code for os.Exit. Call it from TestMain: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	skipsMu.Lock()
	defer skipsMu.Unlock()
	if len(skips) == 0 {
		return code
	}
	w, closeW := reportWriter()
	defer closeW()
	report(w, skips, runPackages(skips))
	return code
}

// report writes the skipped tests, grouped by what they lack, and the apt-get command.
func report(w io.Writer, ss []skip, runPkgs []string) {
	exe := filepath.Base(os.Args[0])
	fmt.Fprintf(w, "testenv: %s: %d integration test(s) skipped, their servers are missing:\n", strings.TrimSuffix(exe, ".test"), len(ss))
	for _, s := range ss {
		fmt.Fprintf(w, "testenv:   %s (needs %s)\n", s.test, s.what)
	}
	var pkgs []string
	for _, s := range ss {
		if s.pkg != "" && !slices.Contains(pkgs, s.pkg) {
			pkgs = append(pkgs, s.pkg)
		}
	}
	if len(pkgs) > 0 {
		slices.Sort(pkgs)
		fmt.Fprintf(w, "testenv: to run them: sudo apt-get install %s\n", strings.Join(pkgs, " "))
	}
	if len(runPkgs) > len(pkgs) {
		fmt.Fprintf(w, "testenv: for every test skipped so far in this go test run: sudo apt-get install %s\n", strings.Join(runPkgs, " "))
	}
}

// goParent returns the process id of the go command running this test binary, 0 if there is none.
func goParent() int {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return 0
	}
	return ppid
}

// reportWriter is the go command's standard error when there is one, else this binary's.
func reportWriter() (io.Writer, func()) {
	if ppid := goParent(); ppid != 0 {
		if f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", ppid), os.O_WRONLY|os.O_APPEND, 0); err == nil {
			return f, func() { f.Close() }
		}
	}
	return os.Stderr, func() {}
}

// runPackages adds ss's Debian packages to the go test run's file and returns every package in it,
// sorted; without a go command, only ss's.
func runPackages(ss []skip) []string {
	var mine []string
	for _, s := range ss {
		if s.pkg != "" {
			mine = append(mine, s.pkg)
		}
	}
	all := mine
	if ppid := goParent(); ppid != 0 {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("postmortemd-testenv-skips-%d", ppid))
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			_, _ = f.WriteString(strings.Join(mine, "\n") + "\n")
			f.Close()
		}
		if b, err := os.ReadFile(path); err == nil {
			all = strings.Fields(string(b))
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}
