package main

import (
	"bytes"
	"net"
	"os"
	"strings"
	"testing"
)

// A taken port stops start-up with one clear line, before any warning, and leaves nothing behind
// in the current directory (no drafts directory).
func TestTakenPortFailsFirstAndCreatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Chdir(t.TempDir())
	var stdout, stderr bytes.Buffer
	err = run(t.Context(), []string{"--listen", ln.Addr().String()}, func(string) string { return "" }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()+" is already in use") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v; want one line saying the port is in use", err)
	}
	if stderr.Len() != 0 || stdout.Len() != 0 {
		t.Errorf("printed before the error:\n%s%s", stdout.String(), stderr.String())
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("left %d entries in the current directory, e.g. %s", len(entries), entries[0].Name())
	}
}
