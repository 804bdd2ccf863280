package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// ?status=acknowledged pages over the acknowledged incidents themselves: with the two oldest of
// five unresolved incidents acknowledged, page one of size one is the newer acknowledged one, page
// two the older, page three empty. (Filtering a page of every unresolved incident returned empty
// pages here.)
func TestAcknowledgedIncidentsArePaged(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		ids := make([]string, 5)
		for i := range ids {
			at := t0.Add(time.Duration(i) * time.Minute)
			pd := fmt.Sprintf("PDACK%d", i)
			ids[i] = mustRecord(t, s, pdBatch(pd, event("incident_triggered", at, "triggered "+pd), "t"+pd)).IncidentID
			if i < 2 {
				mustRecord(t, s, withStatus(pdBatch(pd, event("incident_acknowledged", at.Add(time.Second), "acked "+pd), "a"+pd),
					timeline.StatusAcknowledged, at.Add(time.Second)))
			}
		}
		page := func(offset, limit int) []string {
			t.Helper()
			incs, err := s.Incidents(context.Background(), timeline.ListOptions{Status: timeline.StatusAcknowledged, Offset: offset, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, inc := range incs {
				if inc.Status != timeline.StatusAcknowledged {
					t.Errorf("%s is %s in the acknowledged list", inc.ID, inc.Status)
				}
				out = append(out, inc.ID)
			}
			return out
		}
		for _, tt := range []struct {
			offset, limit int
			want          []string
		}{
			{0, 1, []string{ids[1]}},
			{1, 1, []string{ids[0]}},
			{2, 1, nil},
			{0, 10, []string{ids[1], ids[0]}},
		} {
			if got := page(tt.offset, tt.limit); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("offset %d limit %d: %v, want %v", tt.offset, tt.limit, got, tt.want)
			}
		}
		if n := len(mustIncidents(t, s, timeline.StatusOpen)); n != 5 {
			t.Errorf("%d unresolved incidents, want 5 (status=open lists open and acknowledged)", n)
		}
	})
}
