package review

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	changes    *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	// feedSkipped counts reviews left out of a calendar feed because they could not be written.
	feedSkipped prometheus.Counter
	// noSlot counts incidents whose review found no slot (once per incident and reason).
	noSlot prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_review_changes_total",
			Help: "Review meetings scheduled (or moved), cancelled and waived.",
		}, []string{"status"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_review_deliveries_total",
			Help: "Review invitation delivery attempts by transport and result (delivered, failed, gave_up).",
		}, []string{"transport", "result"}),
		feedSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "postmortemd_review_feed_skipped_total",
			Help: "Review meetings left out of a calendar feed because they could not be written; the feed lists the others.",
		}),
		noSlot: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "postmortemd_review_no_slot_total",
			Help: "Incidents for which no review slot could be found, counted once per incident and reason; the review says why.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.changes, m.deliveries, m.feedSkipped, m.noSlot)
	}
	return m
}

func sortReviews(rs []Review) {
	slices.SortFunc(rs, func(a, b Review) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if a.IncidentID < b.IncidentID {
			return -1
		}
		return 1
	})
}
