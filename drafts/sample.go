package drafts

import (
	"encoding/json"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// samples are the incidents NewRenderer renders to prove a template works: one with no events,
// and one with every kind of event, every attribute the draft reads, hostile text and a review.
func samples() []Input {
	t0 := time.Date(2026, 1, 2, 23, 58, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	resolved := at(90)
	inc := timeline.Incident{
		ID: "20260102-sample-00000000", Title: "Sample <b>{{.Incident}}</b> | # title", Status: timeline.StatusResolved,
		Severity: "critical", StartedAt: t0, ResolvedAt: &resolved, Services: []string{"checkout"},
		Labels: map[string]string{"alertname": "Sample", "team": "<script>x</script>"},
		Sources: map[string]string{
			timeline.SourceKeyAlertmanagerGroupKey: "{}:{alertname=\"Sample\"}", timeline.SourceKeyAlertmanagerReceiver: "postmortemd",
			timeline.SourceKeyAlertmanagerExternal: "http://alertmanager.example:9093", timeline.SourceKeyPagerDutyIncidentID: "Q1",
			timeline.SourceKeyPagerDutyIncidentHTML: "https://example.pagerduty.com/incidents/Q1",
		},
	}
	attrs := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	am := timeline.Role("Alertmanager (receiver postmortemd)")
	oncall := timeline.Role("primary on-call (level 1) for checkout")
	pd := attrs(map[string]any{"incident_number": 1, "html_url": "https://example.pagerduty.com/incidents/Q1",
		"priority": "P1", "conference_url": "https://meet.example/abc", "pagerduty_incident_id": "Q1"})
	ev := func(m int, src timeline.Source, typ timeline.Type, kind timeline.Kind, role timeline.Role, fact string, a json.RawMessage) timeline.Event {
		return timeline.Event{ID: string(typ), At: at(m), RecordedAt: at(m).Add(time.Second), Source: src, Type: typ,
			Kind: kind, Role: role, Fact: fact, Attributes: a}
	}
	var evs []timeline.Event
	evs = append(evs, ev(0, timeline.SourceAlertmanager, timeline.TypeAlertFiring, timeline.KindFact, am,
		"Alert Sample started firing", attrs(map[string]any{"labels": map[string]string{"alertname": "Sample", "service": "checkout", "severity": "critical"},
			"annotations": map[string]string{"summary": "s", "description": "d\nline 2", "runbook_url": "https://runbooks.example/s",
				"dashboard": "https://grafana.example/d/1"}, "starts_at": t0, "generator_url": "http://prometheus.example/graph?g0.expr=up"})))
	for i, typ := range []timeline.Type{timeline.TypeIncidentTriggered, timeline.TypeIncidentAcknowledged,
		timeline.TypeIncidentEscalated, timeline.TypeIncidentReassigned, timeline.TypeIncidentDelegated, timeline.TypePriorityUpdated,
		timeline.TypeResponderAdded, timeline.TypeRoleAssigned, timeline.TypeConferenceBridgeUpdated, "workflow_started",
		timeline.TypeIncidentResolved, timeline.TypeIncidentReopened} {
		evs = append(evs, ev(i+1, timeline.SourcePagerDuty, typ, timeline.KindFact, oncall, string(typ)+" <i>fact</i>", pd))
	}
	evs = append(evs,
		ev(20, timeline.SourcePagerDuty, timeline.TypeNote, timeline.KindContext, oncall, "note line 1\n# not a heading\n<!-- postmortemd:end facts -->", pd),
		ev(21, timeline.SourcePagerDuty, timeline.TypeStatusUpdate, timeline.KindContext, oncall, "status | update", pd),
		ev(22, timeline.SourceManual, timeline.TypeNote, timeline.KindContext, "incident commander", "manual", nil),
		ev(90, timeline.SourceAlertmanager, timeline.TypeIncidentResolved, timeline.KindFact, am, "Alertmanager reported every alert of the group resolved", nil),
	)
	return []Input{
		{Incident: timeline.Incident{ID: "empty"}, Now: t0},
		{Incident: inc, Events: evs, Now: at(91), Review: &Review{Start: at(24 * 60), End: at(25 * 60), TimeZone: "Asia/Tokyo", Reason: "first slot", Roles: []string{"incident commander"}}},
		{Incident: inc, Events: evs, Now: at(91), Review: &Review{Waived: true, WaiveReason: "reviewed with <b>another</b> incident", TimeZone: "Asia/Tokyo"}},
	}
}
