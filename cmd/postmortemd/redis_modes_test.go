package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// The service works through Sentinel and on a Redis Cluster (real redis-server processes), where the
// Lua script's keys must all live in one slot: the key prefix is a hash tag.
func TestRedisSentinelAndCluster(t *testing.T) {
	t.Run("sentinel", func(t *testing.T) {
		master := testenv.StartRedisWith(t)
		sentinel := testenv.StartSentinel(t, master, "pm-master")
		cfg := fmt.Sprintf("redis:\n  mode: sentinel\n  master_name: pm-master\n  addrs: [%q]\n", sentinel.Addr())
		deliverAndRead(t, cfg)
	})
	t.Run("cluster", func(t *testing.T) {
		node := testenv.StartRedisWith(t, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes-"+filepath.Base(t.TempDir())+".conf")
		rdb := redis.NewClient(&redis.Options{Addr: node.Addr()})
		defer rdb.Close()
		ctx := context.Background()
		if err := rdb.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
			t.Fatalf("assign slots: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, _ := rdb.ClusterInfo(ctx).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok:\n%s", info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		deliverAndRead(t, fmt.Sprintf("redis:\n  mode: cluster\n  addrs: [%q]\n", node.Addr()))
	})
}

func deliverAndRead(t *testing.T, configYAML string) {
	t.Helper()
	base, _, log := startRun(t, "--config", writeFile(t, "postmortemd.yml", configYAML))
	for _, f := range []string{"01-first-firing.json", "02-second-alert-joins.json", "04-all-resolved.json"} {
		body, err := os.Open("../../receiver/testdata/alertmanager/v0.25.0/" + f)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(base+"/webhook/alertmanager", "application/json", body)
		body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("deliver %s: %v %v\n%s", f, err, resp, log)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(base + "/api/v1/incidents?status=resolved")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Incidents []struct {
			ID         string `json:"id"`
			EventCount int    `json:"event_count"`
		} `json:"incidents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	// inst-1 and inst-2 firing, inst-2 resolved, group resolved (inst-1's resolution came in 03, not sent here)
	if len(list.Incidents) != 1 || list.Incidents[0].EventCount != 4 {
		t.Fatalf("incidents %+v, want one resolved with 4 events\n%s", list.Incidents, log)
	}
	if r, err := http.Get(base + "/-/ready"); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("/-/ready: %v %v", r, err)
	}
}
