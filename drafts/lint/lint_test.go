package lint

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/postmortemd/postmortemd/timeline"
)

func rulesOf(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

func TestDefaultRules(t *testing.T) {
	l := Default()
	seen := map[string]bool{}
	for _, r := range l.Rules() {
		if seen[r.ID] {
			t.Errorf("rule %q defined twice", r.ID)
		}
		seen[r.ID] = true
		if r.Message == defaultMessage || r.Suggestion == defaultSuggestion {
			t.Errorf("default rule %q lacks its own message or suggestion", r.ID)
		}
	}
}

// Positive and negative samples, English and Japanese. The "want" list is the rules flagged, in
// order; an empty list pins that the sentence is left alone.
func TestText(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		// English, flagged.
		{"forgot to", "The on-call forgot to renew the certificate.", []string{"forgot-to"}},
		{"forgotten about", "She had forgotten about the cron job.", []string{"forgot-to"}},
		{"careless", "A careless change to the config.", []string{"careless"}},
		{"carelessness", "Carelessness caused it.", []string{"careless"}},
		{"should have about a person", "He should have checked the dashboard.", []string{"should-have"}},
		{"shouldn't have", "They shouldn't have deployed on Friday.", []string{"should-have"}},
		// Hindsight about a system is still hindsight: flagged, as a hint rather than a warning.
		{"should have about a system", "The alert should have fired at 2s.", []string{"should-have"}},
		{"human error", "Root cause: human error.", []string{"human-error"}},
		{"operator error", "Classic operator error.", []string{"human-error"}},
		{"Human-error", "Root cause: Human-error.", []string{"human-error"}},
		{"human-errors", "Two human-errors in a row.", []string{"human-error"}},
		{"humanerror", "Tagged humanerror in the tracker.", []string{"human-error"}},
		{"operator-error", "Classic operator-error.", []string{"human-error"}},
		{"negligent", "This was negligent.", []string{"negligent"}},
		{"negligence", "Negligence by the team.", []string{"negligent"}},
		{"his fault", "It was his fault.", []string{"fault"}},
		{"their fault", "Their fault, not ours.", []string{"fault"}},
		{"at fault", "The DBA was at fault.", []string{"fault"}},
		{"blame", "We blame the release manager.", []string{"blame"}},
		{"blamed", "The secondary was blamed.", []string{"blame"}},
		{"person failed to", "The engineer failed to roll back.", []string{"failed-to"}},
		{"pronoun failed to", "She failed to acknowledge the page.", []string{"failed-to"}},
		{"on-call had failed to", "The on-call had failed to respond.", []string{"failed-to"}},
		{"sloppy", "Sloppy review.", []string{"judging-words"}},
		{"didn't bother", "Nobody didn't bother to look.", []string{"judging-words"}},
		{"their mistake", "It was her mistake.", []string{"their-mistake"}},
		{"two findings", "He forgot to check; human error.", []string{"forgot-to", "human-error"}},
		{"e-mail address", "Paged ops-lead@example.com at 10:02.", []string{"email-address"}},

		// English, left alone.
		{"blameless", "This is a blameless postmortem.", nil},
		{"git blame", "Ran git blame on the config file to find the change.", nil},
		{"git blame and blame", "git blame showed the commit; we blame nobody.", []string{"blame"}},
		{"system failed to", "The deploy failed to roll out; the health check failed to connect.", nil},
		{"fault tolerance", "Fault tolerance and fault injection; segmentation fault in the worker.", nil},
		{"default", "The default timeout is 30s.", nil},
		{"error rate", "The error rate rose to 12%.", nil},
		{"should without have", "The dashboard should show p99 latency.", nil},
		{"forget-me-not", "The forgotten cache entries expired.", nil},
		{"human in the loop", "A human approved the rollout.", nil},

		// Japanese, flagged.
		{"ミス", "担当者の設定ミスで障害が発生した。", []string{"ja-miss"}},
		{"不注意", "オペレーターの不注意が原因。", []string{"ja-careless"}},
		{"確認不足", "確認不足によりデプロイされた。", []string{"ja-careless"}},
		{"うっかり", "うっかり本番DBを消した。", []string{"ja-careless"}},
		{"すべきだった", "事前にテストすべきだった。", []string{"ja-should-have"}},
		{"するべきだった", "ロールバックするべきだった。", []string{"ja-should-have"}},
		{"怠った", "監視の確認を怠った。", []string{"ja-neglect"}},
		{"怠慢", "明らかな怠慢である。", []string{"ja-neglect"}},
		{"責任", "この障害の責任は開発チームにある。", []string{"ja-responsibility"}},
		{"ヒューマンエラー", "原因はヒューマンエラー。", []string{"ja-human-error"}},
		// One phrase, one finding: the ミス inside 人為的ミス is not flagged again.
		{"人為的ミス", "人為的ミスによる障害。", []string{"ja-human-error"}},
		{"half-width ﾐｽ", "担当者の設定ﾐｽで障害が発生した。", []string{"ja-miss"}},
		{"half-width ﾋｭｰﾏﾝｴﾗｰ", "原因はﾋｭｰﾏﾝｴﾗｰ。", []string{"ja-human-error"}},
		{"full-width Latin", "Ｒｏｏｔ ｃａｕｓｅ: ｈｕｍａｎ ｅｒｒｏｒ.", []string{"human-error"}},
		{"忘れた", "証明書の更新をし忘れた。", []string{"ja-forgot"}},
		{"誰のせい", "誰のせいでもない、とは言えない。", []string{"ja-fault"}},

		// Japanese, left alone.
		{"ミスマッチ", "バージョンのミスマッチで接続に失敗した。", nil},
		{"キャッシュミス", "キャッシュミスが増えてレイテンシが悪化した。", nil},
		{"ミステリ", "原因はしばらくミステリだった。", nil},
		{"ミステリー", "ミステリーのような挙動だった。", nil},
		{"責任者", "インシデント責任者がステータスを更新した。", nil},
		{"neutral Japanese", "10:02 にアラートが発報し、一次対応者が確認した。", nil},
		{"忘れずに", "忘れずに手順書を更新する。", nil},
		{"a recommendation is not hindsight", "監視を追加するべきだ。", nil},
	}
	l := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rulesOf(l.Text(tt.text))
			want := tt.want
			if want == nil {
				want = []string{}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("Text(%q) flags %v, want %v", tt.text, got, want)
			}
		})
	}
}

func TestFindingPosition(t *testing.T) {
	l := Default()
	t.Run("English", func(t *testing.T) {
		fs := l.Text("first line\nthe operator forgot to page.\n")
		if len(fs) != 1 {
			t.Fatalf("findings %+v", fs)
		}
		f := fs[0]
		if f.Line != 2 || f.Column != 14 || f.Match != "forgot to" || f.Offset != 11+13 {
			t.Errorf("finding at %d:%d offset %d %q, want 2:14 offset 24 \"forgot to\"", f.Line, f.Column, f.Offset, f.Match)
		}
		if f.Severity != SeverityWarning || f.Message == "" || f.Suggestion == "" {
			t.Errorf("finding lacks severity, message or suggestion: %+v", f)
		}
	})
	t.Run("Japanese columns count characters", func(t *testing.T) {
		fs := l.Text("概要\n担当者の設定ミス")
		if len(fs) != 1 || fs[0].Line != 2 || fs[0].Column != 7 || fs[0].Match != "ミス" {
			t.Fatalf("findings %+v, want one at 2:7", fs)
		}
		if !strings.Contains(fs[0].Suggestion, "何が起きたか") {
			t.Errorf("Japanese rule's suggestion is not Japanese: %q", fs[0].Suggestion)
		}
	})
	t.Run("hindsight is a hint", func(t *testing.T) {
		fs := l.Text("The alert should have fired at 2s.")
		if len(fs) != 1 || fs[0].Severity != SeverityHint {
			t.Fatalf("findings %+v, want one hint", fs)
		}
	})
}

func TestWords(t *testing.T) {
	tests := []struct {
		name, words, text string
		want              []string
	}{
		{"adds a term", "rules:\n  - id: rookie\n    terms: [\"rookie mistake\"]\n", "A Rookie  mistake.", []string{"rookie"}},
		{"term is a whole word", "rules:\n  - id: ops\n    terms: [ops]\n", "devops and oops", []string{}},
		{"disables a default", "disable: [should-have]\n", "The alert should have fired.", []string{}},
		{"overrides a default by id", "rules:\n  - id: careless\n    terms: [careless]\n    severity: hint\n", "careless", []string{"careless"}},
		{"Japanese term", "rules:\n  - id: ja-dame\n    terms: [ダメ]\n", "対応がダメだった", []string{"ja-dame"}},
		{"empty file keeps defaults", "", "human error", []string{"human-error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWords([]byte(tt.words))
			if err != nil {
				t.Fatal(err)
			}
			l, err := New(w)
			if err != nil {
				t.Fatal(err)
			}
			fs := l.Text(tt.text)
			if got := rulesOf(fs); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("flags %v, want %v", got, tt.want)
			}
			if tt.name == "adds a term" && (fs[0].Message != defaultMessage || fs[0].Suggestion != defaultSuggestion) {
				t.Errorf("user rule without message gets %+v", fs[0])
			}
			if tt.name == "overrides a default by id" && fs[0].Severity != SeverityHint {
				t.Errorf("override kept the default severity: %+v", fs[0])
			}
		})
	}
	bad := []struct{ name, words, want string }{
		{"unknown field", "rules:\n  - id: x\n    term: [a]\n", "term"},
		{"no id", "rules:\n  - terms: [a]\n", "id is required"},
		{"disable unknown", "disable: [nope]\n", `no rule "nope"`},
		{"bad regex", "rules:\n  - id: x\n    regex: '('\n", `rule "x"`},
		{"bad severity", "rules:\n  - id: x\n    terms: [a]\n    severity: fatal\n", "severity"},
		{"terms and regex", "rules:\n  - id: x\n    terms: [a]\n    regex: b\n", "not both"},
	}
	for _, tt := range bad {
		t.Run("rejects "+tt.name, func(t *testing.T) {
			w, err := ParseWords([]byte(tt.words))
			if err == nil {
				_, err = New(w)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("LoadWords names the file", func(t *testing.T) {
		p := t.TempDir() + "/words.yaml"
		if err := os.WriteFile(p, []byte("rules: [\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadWords(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v, want one naming %s", err, p)
		}
	})
}

func TestMarkdown(t *testing.T) {
	doc := strings.Join([]string{
		"---",                                 // 1
		"# the on-call forgot to (a comment)", // 2
		"# postmortemd:begin attributes sha256:0123456789abcdef", // 3
		`id: "human error"`,                   // 4 machine-owned
		"# postmortemd:end attributes",        // 5
		"title: Careless deploy",              // 6 people's title: linted
		"---",                                 // 7
		"# Summary",                           // 8
		"The operator forgot to drain.",       // 9
		"```",                                 // 10
		"ERROR: human error in script",        // 11 code: skipped
		"```",                                 // 12
		"Run `blame.sh` then check.",          // 13 inline code: skipped
		"<!-- postmortemd:begin timeline -->", // 14
		"- 10:02 the on-call blamed nobody",   // 15 machine-owned body block: skipped (checked when posted)
		"<!-- postmortemd:end timeline -->",   // 16
		"<!--",                                // 17
		"negligent",                           // 18 comment: skipped
		"-->",                                 // 19
		"担当者のミス",                              // 20
	}, "\n")
	l := Default()
	fs := l.Markdown(doc)
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+"@"+itoa(f.Line)+":"+itoa(f.Column))
	}
	want := "careless@6:8,forgot-to@9:14,ja-miss@20:5"
	if strings.Join(got, ",") != want {
		t.Errorf("Markdown findings %v, want %s", got, want)
	}
	if len(l.Text(doc)) <= len(fs) {
		t.Error("Text should flag what Markdown skips")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

type peopleFile struct {
	People []struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
		Email   string `json:"email"`
	} `json:"people"`
	PII []string `json:"pii_strings"`
}

// The PagerDuty story's people, with the roles the receiver gives them.
func storyPeople(t *testing.T) ([]timeline.Participant, []string) {
	t.Helper()
	raw, err := os.ReadFile("../../receiver/testdata/pagerduty/story/people.json")
	if err != nil {
		t.Fatal(err)
	}
	var pf peopleFile
	if err := json.Unmarshal(raw, &pf); err != nil || len(pf.PII) == 0 {
		t.Fatal("people.json", err)
	}
	roles := map[string]timeline.Role{"PXK4R2M": "primary on-call (level 1) for checkout",
		"P7QHN3D": "incident commander", "PJ2L5WS": "", "PM3V8YC": "responder requested via the Database On-Call policy"}
	var ps []timeline.Participant
	for _, p := range pf.People {
		ps = append(ps, timeline.Participant{ID: p.ID, Name: p.Summary, Email: p.Email, Role: roles[p.ID]})
	}
	return ps, pf.PII
}

func TestReplaceNames(t *testing.T) {
	people, pii := storyPeople(t)
	people = append(people, timeline.Participant{ID: "PJA", Name: "渡辺 健二", Role: "database on-call"})
	tests := []struct {
		name, text, want string
		n                int
	}{
		{"full name", "Dana Okafor acknowledged.", "the primary on-call (level 1) for checkout acknowledged.", 1},
		{"first name, any case", "asked PRIYA to take over", "asked the incident commander to take over", 1},
		{"last name", "Watanabe restarted the replica.", "the responder requested via the Database On-Call policy restarted the replica.", 1},
		{"known address", "mail dana.okafor@example.com now", "mail the primary on-call (level 1) for checkout now", 1},
		{"address as display name", "m.lindqvist@example.com posted the update", "a responder posted the update", 1},
		{"unknown address", "cc boss@corp.example.org", "cc " + UnknownAddress, 1},
		{"local part of an address", "lindqvist approved", "a responder approved", 1},
		{"name inside a word is kept", "Danakil and Okaforian stay", "Danakil and Okaforian stay", 0},
		{"short part is kept", "Dan and Al", "Dan and Al", 0},
		{"possessive", "Priya's laptop", "the incident commander's laptop", 1},
		{"Japanese name without spaces", "渡辺さんが再起動した。渡辺健二が確認。", "the database on-callさんが再起動した。the database on-callが確認。", 2},
		{"nothing to replace", "The alert fired at 10:02.", "The alert fired at 10:02.", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := ReplaceNames(tt.text, people)
			if got != tt.want || n != tt.n {
				t.Errorf("ReplaceNames(%q) = %q, %d; want %q, %d", tt.text, got, n, tt.want, tt.n)
			}
		})
	}
	t.Run("no PII survives", func(t *testing.T) {
		text := strings.Join(pii, " said hello to ") + ". Dana, Priya, Kenji and Okafor too."
		got, _ := ReplaceNames(text, people)
		for _, s := range append(pii, "Dana", "Priya", "Kenji", "Okafor") {
			if strings.Contains(strings.ToLower(got), strings.ToLower(s)) {
				t.Errorf("%q survives in %q", s, got)
			}
		}
	})
}

func TestNames(t *testing.T) {
	people, _ := storyPeople(t)
	text := "# Summary\nDana Okafor paged\nthe DB team; 渡辺 mailed boss@corp.example.org.\n"
	people = append(people, timeline.Participant{ID: "PJA", Name: "渡辺 健二", Role: "database on-call"})
	fs := Names(text, people)
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+"@"+itoa(f.Line)+":"+itoa(f.Column)+"="+f.Suggestion)
		if f.Match != "" {
			t.Errorf("finding repeats the name: %+v", f)
		}
	}
	want := []string{
		"person-name@2:1=write the role instead: the primary on-call (level 1) for checkout",
		"person-name@3:14=write the role instead: the database on-call",
		`email-address@3:24=name the role instead (e.g. "the primary on-call")`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Names:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fs := Names("The alert fired.", people); len(fs) != 0 {
		t.Errorf("clean text: %+v", fs)
	}
}

// Offsets, columns and matches point at the text as written, also when rules matched its NFKC
// form (half-width katakana are 3 bytes each, like their full-width forms, but ﾞ adds a character).
func TestNormalizedPositions(t *testing.T) {
	l := Default()
	for _, tt := range []struct {
		name, text, match string
		column            int
	}{
		{"half-width", "ﾃﾞﾌﾟﾛｲの設定ﾐｽ", "ﾐｽ", 10},
		{"full-width Latin", "ﾒﾓ: Ｈｕｍａｎ ｅｒｒｏｒ", "Ｈｕｍａｎ ｅｒｒｏｒ", 5},
		{"ASCII", "x human-error", "human-error", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := l.Text(tt.text)
			if len(fs) != 1 {
				t.Fatalf("Text(%q) = %+v, want one finding", tt.text, fs)
			}
			f := fs[0]
			if f.Match != tt.match || f.Column != tt.column || tt.text[f.Offset:f.Offset+len(f.Match)] != tt.match {
				t.Errorf("finding at column %d offset %d match %q, want column %d match %q", f.Column, f.Offset, f.Match, tt.column, tt.match)
			}
		})
	}
}
