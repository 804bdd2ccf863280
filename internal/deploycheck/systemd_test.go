package deploycheck

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile is a systemd unit as key=value lines by section (a key given twice keeps every value).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, file string) unitFile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", file, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// The systemd unit has the usual hardening — a dynamic user, a read-only system, its own state
// directory where the drafts go, no privileges to gain — takes its secrets as credentials, and
// passes `systemd-analyze verify` (with no warning) and `systemd-analyze security` at an exposure
// of 2.0 or better where systemd is installed.
func TestSystemdUnit(t *testing.T) {
	file := path(t, "deploy/systemd/postmortemd.service")
	u := parseUnit(t, file)
	svc := u["Service"]
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "StateDirectory": "postmortemd", "ProtectHome": "yes",
		"PrivateTmp": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
		"PrivateDevices": "yes", "LoadCredential": "write-token:/etc/postmortemd/credentials/write-token",
	} {
		if !contains(svc[k], want) {
			t.Errorf("[Service] %s=%v, want %q", k, svc[k], want)
		}
	}
	env := map[string]string{}
	for _, e := range svc["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	if d := env["POSTMORTEMD_DRAFTS_DIR"]; !strings.HasPrefix(d, "%S/postmortemd/") {
		t.Errorf("POSTMORTEMD_DRAFTS_DIR=%q: want it in the state directory (%%S/postmortemd/...): ProtectSystem=strict makes everything else read-only", d)
	}
	if f := env["POSTMORTEMD_WRITE_TOKEN_FILE"]; f != "%d/write-token" {
		t.Errorf("POSTMORTEMD_WRITE_TOKEN_FILE=%q: want the write-token credential (%%d/write-token)", f)
	}
	if len(u["Install"]["WantedBy"]) == 0 {
		t.Error("no [Install] WantedBy: systemctl enable would do nothing")
	}

	analyze := tool(t, "systemd-analyze", "systemd")
	// verify checks that ExecStart's binary exists: point it at one that does.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "postmortemd.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/postmortemd", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify exits 0 on unknown keys and bad values, only saying so: any word about the unit fails.
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), "postmortemd.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "unrecognized option") {
			t.Logf("this systemd-analyze has no offline security check: %s", out)
			return
		}
		t.Errorf("systemd-analyze security: exposure above 2.0, or failed: %v\n%s", err, lastLines(string(out), 25))
	}
}

func contains(vals []string, want string) bool {
	for _, v := range vals {
		if v == want {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
