package review

import (
	"bytes"
	"context"
	"mime"
	"regexp"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/testenv"
)

// japaneseReview is a review of a Japanese team (--draft-lang ja), scheduled late: the incident
// resolved on a Friday evening in Tokyo, so the reason names the weekend.
func japaneseReview(t *testing.T) (Review, *Scheduler) {
	t.Helper()
	tokyo := deliveryLocation(t, "Asia/Tokyo")
	p := i18n.For(i18n.Japanese)
	resolved := time.Date(2026, 11, 27, 19, 30, 0, 0, tokyo) // a Friday
	slot, err := Hours{Location: tokyo}.FindSlot(SlotRequest{Resolved: resolved, Now: resolved, Printer: p})
	if err != nil {
		t.Fatal(err)
	}
	r := Review{IncidentID: "20261127-highlatency-0a1b2c3d", UID: "0a1b2c3d@postmortemd", Sequence: 1, Status: StatusScheduled,
		Title: "HighLatency: p99 latency above 2s", Start: slot.Start, End: slot.End, TimeZone: "Asia/Tokyo",
		Late: slot.Late, Reason: slot.Reason, ResolvedAt: resolved,
		Attendees: []Attendee{
			{Email: "oncall@example.org", Name: "渡辺 健二", Role: "primary on-call (level 1) for checkout", Required: true},
			{Email: "ic@example.org", Role: "incident commander", Required: true},
			{Email: "db@example.org", Role: "データベース担当"}, // a role the team configured: as written
		}}
	s := &Scheduler{o: Options{Calendar: CalendarOptions{Organizer: "postmortemd@example.org", Lang: i18n.Japanese,
		Links: Links{BaseURL: "https://pm.example.org"}, Now: func() time.Time { return resolved }}}}
	return r, s
}

// ownWords are the words postmortemd writes in English invitations: none may be left in a
// Japanese one (the title, ids, links and the time zone are the senders' and the team's).
var ownWords = regexp.MustCompile(`(?i)\b(postmortem review|cancelled|blameless|review of|invited|draft postmortem|live timeline|working|slot|resolution|deadline|responder|on-call|commander|level|holiday|not a working day|when)\b`)

func checkJapaneseText(t *testing.T, what, s string, r Review) {
	t.Helper()
	rest := strings.NewReplacer(r.Title, "", r.IncidentID, "", "https://pm.example.org/postmortems/"+r.IncidentID, "",
		"https://pm.example.org/incidents/"+r.IncidentID, "").Replace(s)
	if m := ownWords.FindAllString(rest, -1); len(m) > 0 {
		t.Errorf("%s keeps postmortemd's English %q:\n%s", what, m, s)
	}
}

// A Japanese team's invitation, delivered by e-mail, reads in Japanese in a mail client: subject,
// text, dates, roles, the slot's reason, and the calendar event inside it.
func TestJapaneseInvitationByEmail(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPConfig{})
	r, s := japaneseReview(t)
	m, err := s.Message(r)
	if err != nil {
		t.Fatal(err)
	}
	ml := newTestMailer(t, MailOptions{Addr: srv.Addr(), StartTLS: StartTLSNone})
	if err := ml.Deliver(context.Background(), m); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	got := readMail(t, msgs[0])
	subject, err := new(mime.WordDecoder).DecodeHeader(got.msg.Header.Get("Subject"))
	if err != nil || subject != "ポストモーテム振り返り会: "+r.Title {
		t.Errorf("Subject %q (%v)", subject, err)
	}
	if cl := got.msg.Header.Get("Content-Language"); cl != "ja" {
		t.Errorf("Content-Language %q, want ja", cl)
	}
	text := strings.ReplaceAll(string(got.text.body), "\r\n", "\n") // SMTP carries lines as CRLF
	for _, want := range []string{
		"インシデント " + r.IncidentID + " のブレームレスな振り返りです。",
		"日時: 2026年11月30日（月） 10:00〜11:00（Asia/Tokyo）",
		"解決（2026年11月27日（金） 19:30 JST）から 2時間後〜24時間後の業務時間（月・火・水・木・金 10:00–18:00 Asia/Tokyo）に空き枠がありませんでした",
		"2026年11月28日（土）、2026年11月29日（日） は業務日ではありません",
		"招待（3 人）: checkout の一次オンコール（レベル 1）、インシデントコマンダー、データベース担当。",
		"ポストモーテムの下書き: https://pm.example.org/postmortems/" + r.IncidentID,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	checkJapaneseText(t, "the e-mail text", text, r)
	if strings.Contains(text, "渡辺") {
		t.Error("the text names a person")
	}

	// The calendar part, read by two independent iCalendar parsers.
	cal := decodeICS(t, got.cal.body)
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	summary := evs[0].Props.Get(ical.PropSummary)
	if summary == nil || summary.Value != "ポストモーテム振り返り会: "+r.Title || summary.Params.Get(ical.ParamLanguage) != "ja" {
		t.Errorf("SUMMARY %+v", summary)
	}
	desc, err := evs[0].Props.Text(ical.PropDescription)
	if err != nil || desc != text {
		t.Errorf("DESCRIPTION differs from the e-mail text (%v):\n%s", err, desc)
	}
	gcal, err := ics.ParseCalendar(bytes.NewReader(got.attach.body))
	if err != nil {
		t.Fatalf("golang-ical: %v", err)
	}
	if p := gcal.Events()[0].GetProperty(ics.ComponentPropertySummary); p == nil || p.Value != "ポストモーテム振り返り会: "+r.Title {
		t.Errorf("golang-ical SUMMARY %+v", p)
	}
}

// The same invitation stored in a CalDAV calendar (Radicale) reads back in Japanese, and a
// cancellation is titled in Japanese too.
func TestJapaneseInvitationByCalDAV(t *testing.T) {
	rad := testenv.StartRadicale(t)
	dav, err := NewCalDAV(CalDAVOptions{URL: rad.CalendarURL(), Username: testenv.RadicaleUser,
		Password: testenv.RadicalePassword, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, s := japaneseReview(t)
	m, err := s.Message(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := dav.Deliver(context.Background(), m); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	_, ev := newDAVReader(t, rad).only()
	if got := icalText(t, ev, ical.PropSummary); got != "ポストモーテム振り返り会: "+r.Title {
		t.Errorf("SUMMARY %q", got)
	}
	desc := icalText(t, ev, ical.PropDescription)
	if !strings.Contains(desc, "招待（3 人）: checkout の一次オンコール（レベル 1）、インシデントコマンダー、データベース担当。") {
		t.Errorf("DESCRIPTION:\n%s", desc)
	}
	checkJapaneseText(t, "the stored event's description", desc, r)

	r.Status, r.Sequence = StatusCancelled, 2
	if m, err = s.Message(r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Summary, "中止: ポストモーテム振り返り会: ") ||
		!strings.Contains(m.Text, "振り返り会は中止になりました。インシデントが再オープンしたためです。") {
		t.Errorf("cancellation: %q\n%s", m.Summary, m.Text)
	}
	checkJapaneseText(t, "the cancellation", m.Text, r)
}

// A slot's reason is kept as a message beside its words: a review scheduled in English reads in
// Japanese for a Japanese reader (the page, a later --draft-lang ja), and its stored English words
// stay what they were; a review stored before keeps its words in every language.
func TestSlotReasonInEveryLanguage(t *testing.T) {
	r, _ := japaneseReview(t)
	tokyo := deliveryLocation(t, "Asia/Tokyo")
	slot, err := Hours{Location: tokyo}.FindSlot(SlotRequest{Resolved: r.ResolvedAt, Now: r.ResolvedAt.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(slot.Reason, "No free slot in working hours (Mon,Tue,Wed,Thu,Fri 10:00–18:00 Asia/Tokyo) between 2h and 24h") ||
		!strings.Contains(slot.Reason, "are not working days") || !strings.Contains(slot.Reason, "it was scheduled at Fri 22:30 JST") {
		t.Errorf("English reason %q", slot.Reason)
	}
	r.Reason, r.ReasonCode = slot.Reason, &slot.ReasonCode
	ja := r.ReasonText(i18n.For(i18n.Japanese))
	if !strings.Contains(ja, "空き枠がありませんでした") || !strings.Contains(ja, "2026年11月28日（土）") {
		t.Errorf("Japanese reason %q", ja)
	}
	checkJapaneseText(t, "the reason", ja, r)
	if en := r.ReasonText(i18n.For(i18n.English)); en != slot.Reason {
		t.Errorf("English from the message %q, stored %q", en, slot.Reason)
	}
	r.ReasonCode = nil
	if got := r.ReasonText(i18n.For(i18n.Japanese)); got != slot.Reason {
		t.Errorf("a review stored before: %q", got)
	}

	// No slot at all: the reason says why in each language.
	_, err = Hours{Location: tokyo, Days: []time.Weekday{time.Monday}, Holidays: nil}.FindSlot(SlotRequest{Resolved: r.ResolvedAt, Duration: 10 * time.Hour})
	reason, ok := i18n.ReasonOf(err)
	if !ok {
		t.Fatalf("no slot: %v, want a reason", err)
	}
	m := i18n.Msg(i18n.ReviewNoSlot)
	m.Detail = &reason.Message
	if got := i18n.For(i18n.Japanese).ReviewReason(m); got != "振り返り会の枠が見つかりませんでした: 600 分の会議は業務時間 10:00〜18:00 に収まりません。" {
		t.Errorf("Japanese no-slot reason %q", got)
	}
	if got := i18n.For(i18n.English).ReviewReason(m); got != "No review slot could be found: a 600-minute meeting does not fit in working hours 10:00–18:00." {
		t.Errorf("English no-slot reason %q", got)
	}
}
