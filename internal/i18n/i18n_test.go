package i18n_test

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// catalogueIDs reads a catalogue file as its message ids, each with the placeholders its texts use.
func catalogueIDs(t *testing.T, lang i18n.Lang) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("messages/" + string(lang) + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s.yaml: %v", lang, err)
	}
	placeholder := regexp.MustCompile(`\{\{[^}]*?\.([A-Z][A-Za-z]*)`)
	out := map[string][]string{}
	for id, v := range raw {
		var texts []string
		switch v := v.(type) {
		case string:
			texts = []string{v}
		case map[string]any: // plural forms
			if _, ok := v["other"]; !ok {
				t.Errorf("%s.yaml: %s has no \"other\" form", lang, id)
			}
			for _, f := range v {
				if s, ok := f.(string); ok {
					texts = append(texts, s)
				}
			}
		default:
			t.Errorf("%s.yaml: %s is %T, want a text or plural forms", lang, id, v)
		}
		seen := map[string]bool{}
		for _, s := range texts {
			for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
				seen[m[1]] = true
			}
		}
		names := make([]string, 0, len(seen))
		for n := range seen {
			names = append(names, n)
		}
		sort.Strings(names)
		out[id] = names
	}
	return out
}

// Every catalogue has every message any other catalogue has, and fills in the same values: a
// message missing in one language would silently fall back to another.
func TestCataloguesHaveTheSameMessages(t *testing.T) {
	all := map[i18n.Lang]map[string][]string{}
	for _, l := range i18n.Langs {
		all[l] = catalogueIDs(t, l)
		if len(all[l]) == 0 {
			t.Fatalf("%s catalogue is empty", l)
		}
	}
	for _, a := range i18n.Langs {
		for _, b := range i18n.Langs {
			if a == b {
				continue
			}
			for id, names := range all[a] {
				other, ok := all[b][id]
				if !ok {
					t.Errorf("%s.yaml lacks %q, which %s.yaml has", b, id, a)
					continue
				}
				if strings.Join(names, ",") != strings.Join(other, ",") {
					t.Errorf("%q uses %v in %s.yaml but %v in %s.yaml", id, names, a, other, b)
				}
			}
		}
	}
}

func TestDurationsAndDates(t *testing.T) {
	en, ja := i18n.For(i18n.English), i18n.For(i18n.Japanese)
	for _, tc := range []struct {
		d      time.Duration
		en, ja string
	}{
		{time.Hour + 17*time.Minute + 49*time.Second, "1h17m49s", "1時間17分49秒"},
		{2*time.Minute + 29*time.Second + 400*time.Millisecond, "2m29s", "2分29秒"},
		{time.Second, "1s", "1秒"},
		{0, "0s", "0秒"},
		{26*time.Hour + 5*time.Second, "1d2h5s", "1日2時間5秒"},
	} {
		if got := en.Duration(tc.d); got != tc.en {
			t.Errorf("en %v: %q, want %q", tc.d, got, tc.en)
		}
		if got := ja.Duration(tc.d); got != tc.ja {
			t.Errorf("ja %v: %q, want %q", tc.d, got, tc.ja)
		}
	}
	at := time.Date(2026, 11, 23, 13, 31, 41, 0, time.UTC)
	for _, tc := range []struct{ got, want string }{
		{en.DateTime(at), "2026-11-23 13:31:41"},
		{ja.DateTime(at), "2026年11月23日 13:31:41"},
		{ja.LongDate(at), "2026年11月23日（月）"},
		{ja.LongDateTime(at.Add(24 * time.Hour)), "2026年11月24日（火） 13:31:41"},
		{en.LongDate(at), "Mon 2026-11-23"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

func TestRoles(t *testing.T) {
	ja := i18n.For(i18n.Japanese)
	for _, tc := range []struct{ role, want string }{
		{"primary on-call (level 1) for checkout", "checkout の一次オンコール（レベル 1）"},
		{"secondary on-call (level 2) for checkout", "checkout の二次オンコール（レベル 2）"},
		{"level-3 on-call for payments api", "payments api のレベル 3 オンコール"},
		{"primary on-call (level 1)", "一次オンコール（レベル 1）"},
		{"on-call responder via the Checkout On-Call policy", "Checkout On-Call ポリシー経由のオンコール担当"},
		{"responder requested via the Database On-Call policy", "Database On-Call ポリシー経由で要請されたレスポンダー"},
		{"a responder", "レスポンダー"},
		{"", "レスポンダー"},
		// A review's attendee without a role, and the owners a label names.
		{"responder", "レスポンダー"},
		{"owner of service checkout", "service=checkout のオーナー"},
		{"incident commander", "インシデントコマンダー"},
		{"PagerDuty automation", "PagerDuty の自動処理"},
		{"monitoring integration (Alertmanager)", "監視連携（Alertmanager）"},
		{"Alertmanager (receiver team-x)", "Alertmanager（レシーバー team-x）"},
		// Roles a team configures are theirs: used as written.
		{"database reliability engineer", "database reliability engineer"},
		{"決済チームのオンコール", "決済チームのオンコール"},
	} {
		if got := ja.Role(timeline.Role(tc.role)); got != tc.want {
			t.Errorf("ja role %q: %q, want %q", tc.role, got, tc.want)
		}
	}
	// English keeps the canonical value.
	en := i18n.For(i18n.English)
	if got := en.Role("primary on-call (level 1) for checkout"); got != "primary on-call (level 1) for checkout" {
		t.Errorf("en role: %q", got)
	}
	if got := en.Phrase("primary on-call (level 1) for checkout"); got != "the primary on-call (level 1) for checkout" {
		t.Errorf("en phrase: %q", got)
	}
}

func TestMatchAcceptLanguage(t *testing.T) {
	for _, tc := range []struct {
		header string
		pinned i18n.Lang
		want   i18n.Lang
	}{
		{"ja", "", i18n.Japanese},
		{"ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", "", i18n.Japanese},
		{"en-US,en;q=0.9,ja;q=0.8", "", i18n.English},
		{"fr-FR,fr;q=0.9", "", i18n.English},
		{"fr-FR,ja;q=0.5", "", i18n.Japanese},
		{"", "", i18n.English},
		{"garbage;;;q=x", "", i18n.English},
		{"ja", i18n.English, i18n.English},
		{"en", i18n.Japanese, i18n.Japanese},
		{"ja", "fr", i18n.Japanese}, // an unknown pinned language pins nothing
	} {
		if got := i18n.Match(tc.header, tc.pinned); got != tc.want {
			t.Errorf("Match(%q, %q) = %q, want %q", tc.header, tc.pinned, got, tc.want)
		}
	}
}

func TestLookupsNeverFail(t *testing.T) {
	ja := i18n.For(i18n.Japanese)
	if got := ja.T("no.such.message"); got != "no.such.message" {
		t.Errorf("unknown id: %q", got)
	}
	if got := (i18n.Printer{}).T("status.resolved"); got != "resolved" {
		t.Errorf("zero printer: %q", got)
	}
	if got := i18n.For("xx").Lang(); got != i18n.English {
		t.Errorf("unknown language: %q", got)
	}
}
