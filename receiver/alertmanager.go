package receiver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/postmortemd/postmortemd/timeline"
)

// amMessage is Alertmanager's webhook payload, version "4" (notify/webhook.Message with the embedded
// template.Data). Unknown fields are ignored, so newer Alertmanagers' additions pass; fields that
// older ones lack (notification_reason before 0.32, routeLabels before 0.34) are optional.
type amMessage struct {
	Version            string            `json:"version"`
	GroupKey           string            `json:"groupKey"`
	TruncatedAlerts    uint64            `json:"truncatedAlerts"`
	Receiver           string            `json:"receiver"`
	Status             string            `json:"status"`
	Alerts             []amAlert         `json:"alerts"`
	GroupLabels        map[string]string `json:"groupLabels"`
	CommonLabels       map[string]string `json:"commonLabels"`
	CommonAnnotations  map[string]string `json:"commonAnnotations"`
	ExternalURL        string            `json:"externalURL"`
	NotificationReason string            `json:"notification_reason"`
	RouteLabels        map[string]string `json:"routeLabels"`
	// commonRedacted holds the common annotations that name people (see Handler.redactAnnotations).
	commonRedacted map[string]timeline.Redacted
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	// redacted holds the annotations that name people (see Handler.redactAnnotations).
	redacted map[string]timeline.Redacted
}

const (
	amFiring   = "firing"
	amResolved = "resolved"
)

// decodeAlertmanager parses and validates a payload. Every error wraps timeline.ErrInvalid and names
// the field that is wrong.
func decodeAlertmanager(body []byte) (*amMessage, error) {
	var m amMessage
	if err := unmarshalAlertmanager(body, &m); err != nil {
		return nil, fmt.Errorf("%w: body is not an Alertmanager webhook payload: %s", timeline.ErrInvalid, jsonError(body, err))
	}
	if m.Version != "4" {
		return nil, fmt.Errorf("%w: version: want \"4\" (Alertmanager webhook payload), got %q", timeline.ErrInvalid, m.Version)
	}
	if m.GroupKey == "" {
		return nil, fmt.Errorf("%w: groupKey: missing", timeline.ErrInvalid)
	}
	if m.Status != amFiring && m.Status != amResolved {
		return nil, fmt.Errorf("%w: status: want \"firing\" or \"resolved\", got %q", timeline.ErrInvalid, m.Status)
	}
	if len(m.Alerts) == 0 {
		return nil, fmt.Errorf("%w: alerts: empty", timeline.ErrInvalid)
	}
	for i := range m.Alerts {
		a := &m.Alerts[i]
		if a.Status != amFiring && a.Status != amResolved {
			return nil, fmt.Errorf("%w: alerts[%d].status: want \"firing\" or \"resolved\", got %q", timeline.ErrInvalid, i, a.Status)
		}
		if len(a.Labels) == 0 {
			return nil, fmt.Errorf("%w: alerts[%d].labels: empty", timeline.ErrInvalid, i)
		}
		if a.StartsAt.IsZero() {
			return nil, fmt.Errorf("%w: alerts[%d].startsAt: missing", timeline.ErrInvalid, i)
		}
		if a.Fingerprint == "" {
			a.Fingerprint = fingerprint(a.Labels)
		}
	}
	return &m, nil
}

// jsonError says where in the body decoding failed.
func jsonError(body []byte, err error) string {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *amSyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q: cannot use JSON %s as %s (offset %d)", e.Field, e.Value, e.Type, e.Offset)
	}
	if off >= 0 {
		line := 1 + strings.Count(string(body[:min(off, int64(len(body)))]), "\n")
		return fmt.Sprintf("%v (line %d, offset %d)", err, line, off)
	}
	return err.Error()
}

// fingerprint is Prometheus' label-set fingerprint (FNV-1a 64 over sorted name/value pairs, each
// followed by 0xff), used only for payloads that lack Alertmanager's own.
func fingerprint(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	h := fnv.New64a()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[n]))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// amAttributes is what an Alertmanager fact keeps beside its sentence, for the draft and for people
// following the links.
type amAttributes struct {
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       *time.Time        `json:"ends_at,omitempty"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	// redacted holds the annotations that name people, written with their names replaced in
	// place of Annotations' values (the replaced text is never built: see timeline.Redacted).
	redacted map[string]timeline.Redacted
}

// sortedKeys returns both maps' keys in one slice, each map's sorted, and the JSON size of a (an
// upper bound, exact but for the times), so that its buffer is allocated once, of its size:
// annotations may be megabytes long, and a buffer grown by a copy holds them twice.
func (a amAttributes) sortedKeys() (keys []string, nLabels, size int) {
	keys = make([]string, 0, len(a.Labels)+len(a.Annotations))
	// The names, braces, commas and the times (at most 37 bytes each).
	size = 160 + timeline.JSONStringLen(a.Fingerprint) + timeline.JSONStringLen(a.GeneratorURL)
	for k, v := range a.Labels {
		keys = append(keys, k)
		size += timeline.JSONStringLen(k) + timeline.JSONStringLen(v) + 2
	}
	nLabels = len(keys)
	for k, v := range a.Annotations {
		keys = append(keys, k)
		size += timeline.JSONStringLen(k) + 2
		if r, ok := a.redacted[k]; ok {
			size += r.JSONLen()
		} else {
			size += timeline.JSONStringLen(v)
		}
	}
	slices.Sort(keys[:nLabels])
	slices.Sort(keys[nLabels:])
	return keys, nLabels, size
}

// appendJSON appends a's JSON exactly as json.Marshal writes it (with the redacted annotations
// replaced), in one buffer of its size when b is nil.
func (a amAttributes) appendJSON(b []byte) ([]byte, error) {
	keys, nLabels, size := a.sortedKeys()
	if b == nil {
		b = make([]byte, 0, size)
	}
	return a.appendJSONKeys(b, keys, nLabels)
}

// appendJSONKeys is appendJSON with a.sortedKeys' keys.
func (a amAttributes) appendJSONKeys(b []byte, keys []string, nLabels int) ([]byte, error) {
	b = append(b, `{"fingerprint":`...)
	b = timeline.AppendJSONString(b, a.Fingerprint)
	for _, f := range []struct {
		name     string
		m        map[string]string
		redacted map[string]timeline.Redacted
		keys     []string
	}{{`,"labels":{`, a.Labels, nil, keys[:nLabels]}, {`,"annotations":{`, a.Annotations, a.redacted, keys[nLabels:]}} {
		if len(f.keys) == 0 {
			continue
		}
		b = append(b, f.name...)
		for i, k := range f.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = timeline.AppendJSONString(b, k)
			b = append(b, ':')
			if r, ok := f.redacted[k]; ok {
				b = r.AppendJSON(b)
			} else {
				b = timeline.AppendJSONString(b, f.m[k])
			}
		}
		b = append(b, '}')
	}
	var err error
	if b, err = appendJSONTime(append(b, `,"starts_at":`...), a.StartsAt); err != nil {
		return nil, err
	}
	if a.EndsAt != nil {
		if b, err = appendJSONTime(append(b, `,"ends_at":`...), *a.EndsAt); err != nil {
			return nil, err
		}
	}
	if a.GeneratorURL != "" {
		b = append(b, `,"generator_url":`...)
		b = timeline.AppendJSONString(b, a.GeneratorURL)
	}
	return append(b, '}'), nil
}

// inPlaceAttributes is the size from which an event's attributes get room for its JSON.
const inPlaceAttributes = 64 << 10

// appendJSONTime appends t as time.Time's MarshalJSON writes it, and its error for a time JSON
// cannot hold (a year outside 0-9999).
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		_, err := t.MarshalJSON()
		return b, err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// redactAnnotations finds the names in ann's values (Options.Redact), and returns the values that
// have some (nil when none has: the usual case). The values stay as sent in ann: the replaced text
// is written where it is used (attributes, summaries), never built whole, so that a huge annotation
// is not held as sent, replaced and escaped at once.
func (h *Handler) redactAnnotations(ann map[string]string) map[string]timeline.Redacted {
	if h.redact == nil {
		return nil
	}
	var out map[string]timeline.Redacted
	for k, v := range ann {
		if r := h.redact(v); r.Count() > 0 {
			if out == nil {
				out = map[string]timeline.Redacted{}
			}
			out[k] = r
		}
	}
	return out
}

// batch turns a valid payload into the timeline batch it means (see timeline.Batch for the rules).
func (h *Handler) batch(m *amMessage, received time.Time) (timeline.Batch, error) {
	received = received.UTC()
	m.commonRedacted = h.redactAnnotations(m.CommonAnnotations)
	receiver := unquoteMeta(m.Receiver)
	role := timeline.Role("Alertmanager (receiver " + receiver + ")")
	b := timeline.Batch{
		Source:      timeline.SourceAlertmanager,
		Group:       m.GroupKey,
		Occurrences: make([]timeline.Occurrence, 0, len(m.Alerts)),
	}
	var (
		started, lastEnd time.Time
		services         []string
		worst            string
		worstRank        = -1
	)
	for _, a := range m.Alerts {
		// The names in this alert's annotations, found now and dropped with a (12 bytes a name).
		a.redacted = h.redactAnnotations(a.Annotations)
		key := a.Fingerprint + ":" + strconv.FormatInt(a.StartsAt.UnixNano(), 10)
		// A resolution keeps only what identifies the alert: its labels, annotations and link are on
		// the firing event of the same fingerprint (this halves what a resolution costs to store).
		attrs := amAttributes{Fingerprint: a.Fingerprint, StartsAt: a.StartsAt.UTC()}
		ev := timeline.Event{RecordedAt: received, Source: timeline.SourceAlertmanager,
			Kind: timeline.KindFact, Role: role}
		state := timeline.OccurrenceFiring
		if a.Status == amFiring {
			ev.Type = timeline.TypeAlertFiring
			ev.At = a.StartsAt.UTC()
			ev.Fact = alertFact(a, "started firing")
			attrs.Labels, attrs.Annotations, attrs.GeneratorURL = a.Labels, a.Annotations, a.GeneratorURL
			attrs.redacted = a.redacted
			if started.IsZero() || a.StartsAt.Before(started) {
				started = a.StartsAt
			}
			if r := severityRank(a.Labels["severity"]); r > worstRank {
				worst, worstRank = a.Labels["severity"], r
			}
		} else {
			state = timeline.OccurrenceResolved
			ev.Type = timeline.TypeAlertResolved
			ev.At = received
			if !a.EndsAt.IsZero() {
				ev.At = a.EndsAt.UTC()
				end := a.EndsAt.UTC()
				attrs.EndsAt = &end
			}
			if ev.At.After(lastEnd) {
				lastEnd = ev.At
			}
			ev.Fact = alertFact(a, "resolved")
		}
		if s := a.Labels["service"]; s != "" && !slices.Contains(services, s) {
			services = append(services, s)
		}
		ev.ID = timeline.EventID(timeline.SourceAlertmanager, m.GroupKey+"\x00"+key+"\x00"+string(state))
		// Large attributes are written into a buffer with room for the rest of the event's JSON,
		// which the store writes around them (timeline.Event.JSONInPlace): a huge annotation is then
		// held once, not once in the attributes and once in the JSON sent to the store. Small
		// ones go without the room: the store encodes them in a buffer it reuses.
		keys, nLabels, size := attrs.sortedKeys()
		var buf []byte
		if size >= inPlaceAttributes {
			buf = ev.AttributesBuffer(size)
		} else {
			buf = make([]byte, 0, size)
		}
		raw, err := attrs.appendJSONKeys(buf, keys, nLabels)
		if err != nil {
			return b, err
		}
		ev.Attributes = raw
		b.Occurrences = append(b.Occurrences, timeline.Occurrence{Key: key, Alias: a.Fingerprint, State: state, Event: ev})
	}
	if started.IsZero() { // nothing firing: an incident opened by this batch starts at its earliest alert
		for _, a := range m.Alerts {
			if started.IsZero() || a.StartsAt.Before(started) {
				started = a.StartsAt
			}
		}
	}
	if sev := m.CommonLabels["severity"]; sev != "" {
		worst, worstRank = sev, severityRank(sev)
	}
	if worstRank < 0 {
		worstRank = 0
	}
	sort.Strings(services)
	title := incidentTitle(m)
	b.Open = timeline.Incident{
		ID:        h.newID(started, title),
		Title:     title,
		Severity:  worst,
		StartedAt: started.UTC(),
		Services:  services,
		Labels:    m.CommonLabels,
		Sources: map[string]string{
			timeline.SourceKeyAlertmanagerGroupKey: m.GroupKey,
			timeline.SourceKeyAlertmanagerReceiver: receiver,
		},
	}
	if m.ExternalURL != "" {
		b.Open.Sources[timeline.SourceKeyAlertmanagerExternal] = m.ExternalURL
	}
	b.SeverityRank = worstRank
	// Alertmanager pages PagerDuty with sha256(groupKey) as the dedup key; a PagerDuty incident with
	// that incident_key is this outage.
	b.Links = []string{AlertmanagerLink(m.GroupKey)}
	if m.TruncatedAlerts > 0 {
		n := strconv.FormatUint(m.TruncatedAlerts, 10)
		b.Events = append(b.Events, timeline.KeyedEvent{
			DedupeKey: "truncated:" + n,
			Event: timeline.Event{
				ID: timeline.EventID(timeline.SourceAlertmanager, m.GroupKey+"\x00truncated:"+n),
				At: received, RecordedAt: received, Source: timeline.SourceAlertmanager,
				Type: timeline.TypeAlertsTruncated, Kind: timeline.KindFact, Role: role,
				Fact: fmt.Sprintf("Alertmanager left %s alerts of this group out of its notification (max_alerts); "+
					"the timeline lacks their facts", n),
				Attributes: mustJSON(map[string]any{"truncated_alerts": m.TruncatedAlerts, "sent_alerts": len(m.Alerts)}),
			},
		})
	}
	// With alerts left out (max_alerts), "resolved" speaks only of the alerts that were sent. The
	// group may be deleted right after, so waiting for a complete notification could wait forever:
	// resolve now, and let resolutions of the left-out alerts join this incident later.
	if m.Status == amResolved {
		if lastEnd.IsZero() {
			lastEnd = received
		}
		b.Resolve = true
		b.ResolvedAt = lastEnd
		b.Resolution = timeline.Event{
			ID: timeline.EventID(timeline.SourceAlertmanager, m.GroupKey+"\x00resolved:"+lastEnd.Format(time.RFC3339Nano)),
			At: lastEnd, RecordedAt: received, Source: timeline.SourceAlertmanager,
			Type: timeline.TypeIncidentResolved, Kind: timeline.KindFact, Role: role,
			Fact: fmt.Sprintf("Alertmanager reported every alert of the group resolved (%d %s)",
				len(m.Alerts), plural(len(m.Alerts), "alert", "alerts")),
			Attributes: mustJSON(map[string]any{"group_key": m.GroupKey, "group_labels": m.GroupLabels,
				"alerts": len(m.Alerts), "truncated_alerts": m.TruncatedAlerts}),
		}
	}
	return b, nil
}

// AlertmanagerLink is the link key of an Alertmanager group: the dedup key Alertmanager's PagerDuty
// integration sends (notify.Key.Hash, the hex SHA-256 of the groupKey).
func AlertmanagerLink(groupKey string) string {
	sum := sha256.Sum256([]byte(groupKey))
	return dedupLink(hex.EncodeToString(sum[:]))
}

func dedupLink(key string) string { return "dedup:" + key }

// identityLabels lead a fact's label list, in this order; the rest follow by name.
var identityLabels = []string{"service", "job", "instance"}

// alertFact states what Alertmanager reported about one alert, e.g. "Alert HighLatency started
// firing for service=checkout, instance=inst-1 (severity critical): p99 latency above 2s". It keeps
// 1,000 bytes at most, and writes no more than that however many labels the alert has.
func alertFact(a amAlert, what string) string {
	const limit = 1000
	rest := make([]string, 0, len(a.Labels))
	size := len(what) + 32
	for n, v := range a.Labels {
		size += len(n) + len(v) + 3
		if n != "alertname" && n != "severity" && !slices.Contains(identityLabels, n) {
			rest = append(rest, n)
		}
	}
	var sb strings.Builder
	sb.Grow(min(size+300, limit+utf8.UTFMax+1)) // the summary keeps at most about 300 bytes
	// w writes s, or as much of it as can still show: truncate below needs the first limit+1 bytes.
	w := func(s string) {
		if room := limit + utf8.UTFMax + 1 - sb.Len(); room < len(s) {
			s = s[:max(room, 0)]
		}
		sb.WriteString(s)
	}
	w("Alert ")
	name := a.Labels["alertname"]
	if name == "" {
		name = "(unnamed)"
	}
	w(name)
	w(" ")
	w(what)
	pairs := 0
	pair := func(n, v string) {
		if pairs == 0 {
			w(" for ")
		} else {
			w(", ")
		}
		pairs++
		w(n)
		w("=")
		w(v)
	}
	for _, n := range identityLabels {
		if v, ok := a.Labels[n]; ok {
			pair(n, v)
		}
	}
	slices.Sort(rest)
	for _, n := range rest {
		if sb.Len() > limit {
			break
		}
		pair(n, a.Labels[n])
	}
	if sev := a.Labels["severity"]; sev != "" {
		w(" (severity ")
		w(sev)
		w(")")
	}
	if sb.Len() <= limit && a.Status == amFiring {
		if s := alertSummary(a.Annotations, a.redacted); s != "" {
			w(": ")
			w(s)
		}
	}
	return truncate(sb.String(), limit)
}

// alertSummary is the line a fact or a title shows of the first of an alert's summary, message and
// description that is not blank, with the names in redacted replaced.
func alertSummary(ann map[string]string, redacted map[string]timeline.Redacted) string {
	for _, k := range []string{"summary", "message", "description"} {
		var s string
		if r, ok := redacted[k]; ok {
			s = joinPieces(r.Pieces, r.Len(), 300)
		} else {
			s = joinFields(ann[k], 300)
		}
		if s != "" {
			return truncate(s, 300)
		}
	}
	return ""
}

// joinFields is strings.Join(strings.Fields(s), " ") cut short once it is longer than limit bytes
// (by less than one field's end): an annotation may be megabytes of words, a summary is a line.
func joinFields(s string, limit int) string {
	j := fieldJoiner{field: -1, limit: limit}
	j.sb.Grow(min(len(s), limit+2*utf8.UTFMax+1))
	j.add(s)
	return j.sb.String()
}

// joinPieces is joinFields of the text that pieces yields a piece at a time, size bytes in all (a
// redacted annotation, whose replaced text is never built). A character is read within one piece.
func joinPieces(pieces func(yield func(string) bool), size, limit int) string {
	j := fieldJoiner{field: -1, limit: limit}
	j.sb.Grow(min(size, limit+2*utf8.UTFMax+1))
	pieces(j.add)
	return j.sb.String()
}

// fieldJoiner writes the fields of a text given to add, joined by single spaces, until they are
// longer than limit.
type fieldJoiner struct {
	sb    strings.Builder
	field int // the length of the field being written; -1 between fields
	limit int
}

// add reads s, the text's next piece; it returns false once nothing more is written.
func (j *fieldJoiner) add(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			j.field = -1
			i += n
			continue
		}
		if j.field < 0 {
			if j.sb.Len() > j.limit+utf8.UTFMax {
				return false
			}
			if j.sb.Len() > 0 {
				j.sb.WriteByte(' ')
			}
			j.field = 0
		}
		j.sb.WriteString(s[i : i+n])
		j.field += n
		i += n
		if j.field > j.limit+utf8.UTFMax { // a field longer than a summary: cut, and done
			return false
		}
	}
	return true
}

func incidentTitle(m *amMessage) string {
	name := m.CommonLabels["alertname"]
	if name == "" {
		name = m.GroupLabels["alertname"]
	}
	if name == "" {
		pairs := make([]string, 0, len(m.GroupLabels))
		for k, v := range m.GroupLabels {
			pairs = append(pairs, k+"="+v)
		}
		sort.Strings(pairs)
		name = strings.Join(pairs, ", ")
	}
	if name == "" {
		name = "Alertmanager group " + m.GroupKey
	}
	if s := alertSummary(m.CommonAnnotations, m.commonRedacted); s != "" {
		return truncate(name+": "+s, 200)
	}
	return truncate(name, 200)
}

// severityRank orders common severity label values so an incident shows the worst one seen.
func severityRank(s string) int {
	switch strings.ToLower(s) {
	case "":
		return 0
	case "page", "emergency", "fatal", "p1":
		return 6
	case "critical", "crit", "p2":
		return 5
	case "error", "high", "major", "p3":
		return 4
	case "warning", "warn", "medium", "minor", "p4":
		return 3
	case "info", "informational", "low", "notice", "p5":
		return 2
	}
	return 1
}

// unquoteMeta undoes the regexp.QuoteMeta that Alertmanager applies to the receiver name.
func unquoteMeta(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// mustJSON encodes values that cannot fail to encode (maps of strings and numbers).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
