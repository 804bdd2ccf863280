package drafts_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

// versions renders the story's draft the first time it resolved and after it resolved again.
func versions(t *testing.T) (timeline.Incident, [][]byte) {
	t.Helper()
	s := newStory(t)
	s.deliverPD(12)
	v1 := mustRender(t, "en", s.input())
	s.deliverPD(14)
	in := s.input()
	return in.Incident, [][]byte{v1, mustRender(t, "en", in)}
}

// checkDir asserts one draft made of the versions written, and no temporary file.
func checkDir(t *testing.T, dir string, inc timeline.Incident, vs [][]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{".postmortemd.lock", drafts.FileName(inc)}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("directory holds %v, want %v (one draft, the lock file, no temporary files)", names, want)
	}
	// The person-owned part comes from whichever version created the file (the prompts at each
	// decision point are written once); the machine-owned blocks from one of the versions.
	h, m := split(mustRead(t, filepath.Join(dir, drafts.FileName(inc))))
	h0, m0 := split(vs[0])
	h1, m1 := split(vs[1])
	if (h != h0 && h != h1) || (m != m0 && m != m1) {
		t.Fatalf("the draft is not made of the versions written:\n%.500s", m)
	}
}

// wellFormed reports whether a draft read while others write is whole.
func wellFormed(b, regenerated []byte) bool {
	_, ok, err := drafts.Merge(b, regenerated)
	return err == nil && ok
}

func TestConcurrentWritersMakeOneDraft(t *testing.T) {
	inc, vs := versions(t)
	dir := t.TempDir()
	path := filepath.Join(dir, drafts.FileName(inc))
	var (
		wg      sync.WaitGroup
		created atomic.Int32
		stop    = make(chan struct{})
		torn    atomic.Int32
		reads   atomic.Int32
	)
	go func() { // a reader (an editor, git, the API) watching the file
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b, err := os.ReadFile(path); err == nil {
				reads.Add(1)
				if !wellFormed(b, vs[1]) {
					torn.Add(1)
				}
			}
		}
	}()
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			store := &drafts.Store{Dir: dir}
			for i := range 10 {
				res, err := store.Write(inc, vs[(g+i)%2])
				if err != nil {
					t.Error(err)
					return
				}
				switch res.Outcome {
				case drafts.Created:
					created.Add(1)
				case drafts.WrittenBeside:
					t.Errorf("written beside: %s", res.Reason)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := created.Load(); n != 1 {
		t.Fatalf("%d writers created the draft, want 1", n)
	}
	if n := torn.Load(); n != 0 {
		t.Fatalf("%d of %d reads saw a torn draft", n, reads.Load())
	}
	checkDir(t, dir, inc, vs)
}

const helperEnv = "POSTMORTEMD_DRAFTS_TEST_WRITER"

// TestHelperWriterProcess is not a test: TestConcurrentProcessesMakeOneDraft runs the test binary
// again with helperEnv set, so two processes write into one directory as two replicas would.
func TestHelperWriterProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process for TestConcurrentProcessesMakeOneDraft")
	}
	var job struct {
		Dir      string
		Incident timeline.Incident
		Versions [][]byte
	}
	if err := json.Unmarshal(mustRead(t, spec), &job); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			store := &drafts.Store{Dir: job.Dir}
			for i := range 15 {
				res, err := store.Write(job.Incident, job.Versions[(g+i)%2])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Printf("OUTCOME %s\n", res.Outcome)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestConcurrentProcessesMakeOneDraft(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	inc, vs := versions(t)
	dir := t.TempDir()
	spec := filepath.Join(t.TempDir(), "job.json")
	b, _ := json.Marshal(map[string]any{"Dir": dir, "Incident": inc, "Versions": vs})
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out []byte
		err error
	}
	results := make(chan result, 2)
	start := time.Now()
	for range 2 {
		go func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriterProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"="+spec)
			out, err := cmd.CombinedOutput()
			results <- result{out, err}
		}()
	}
	var all []byte
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("writer process: %v\n%s", r.err, r.out)
		}
		all = append(all, r.out...)
	}
	counts := map[string]int{}
	for _, l := range strings.Split(string(all), "\n") {
		if o, ok := strings.CutPrefix(l, "OUTCOME "); ok {
			counts[o]++
		}
	}
	if counts[string(drafts.Created)] != 1 || counts[string(drafts.WrittenBeside)] != 0 ||
		counts[string(drafts.Created)]+counts[string(drafts.Merged)]+counts[string(drafts.Unchanged)] != 2*4*15 {
		t.Fatalf("outcomes %v (in %v), want one created and the rest merged or unchanged", counts, time.Since(start))
	}
	checkDir(t, dir, inc, vs)
}
