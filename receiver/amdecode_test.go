package receiver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// amDecodeCases are bodies that exercise encoding/json's rules where a hand decoder could differ.
var amDecodeCases = []string{
	// Valid UTF-8 kept, invalid bytes and lone surrogates replaced one by one.
	`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"a":"\xff\xfe b","\xc3":"x"},"startsAt":"2026-01-01T00:00:00Z"}]}`,
	`{"version":"4","groupKey":"g\ud800x\udc00\ud83d\ude00\ud83d\u0041\ude00","receiver":"caf\u00e9 \u2028 ✓ \xed\xa0\x80"}`,
	`{"receiver":"a\"b\\c\/d\be\ff\ng\rh\ti\u0000j\uFFFD"}`,
	`{"receiver":"\ud83d\ud83d\ude00"}`,
	// Escapes that are not JSON.
	`{"receiver":"\'"}`, `{"receiver":"\x"}`, `{"receiver":"\u12"}`, `{"receiver":"\u12G4"}`, `{"receiver":"a`, `{"receiver":"\`,
	"{\"receiver\":\"a\x01\"}", "{\"receiver\":\"a\x7f\"}", "{\"unknown\":\"a\x1f\"}", "{\"unknown\":\"\xff\"}",
	// Keys: exact first, then folded as encoding/json folds (ſ is s, K is K), escaped keys, duplicates.
	`{"VERSION":"4","GroupKEY":"g","Status":"firing","ALERTS":[{"STATUS":"resolved","Labels":{"a":"b"},"startsat":"2026-01-01T00:00:00Z","ENDSAT":"2026-01-01T00:01:00Z","GeneratorUrl":"u","FingerPrint":"f","Annotations":{"x":"y"}}]}`,
	`{"verſion":"4","groupKey":"g","status":"firing","alerts":[],"TRUNCATEDALERTS":3,"Receiver":"r","grouplabels":{},"COMMONlabels":{"a":"b"},"commonannotations":{"c":"d"},"externalurl":"e","NOTIFICATION_REASON":"n","routelabels":{"r":"s"}}`,
	`{"\u0076ersion":"4","alerts":[{"\u004babels":{"a":"b"}}]}`,
	`{"version":"4","version":"5","groupKey":null,"Version":"6"}`,
	`{"fingerprint":"a","alerts":[{"Fingerprint":"x","fingerprint":"y","FINGERPRINT":"z"}]}`,
	`{"alerts":[{"labels":{"a":"b","a":"c"},"labels":{"d":"e"}}],"commonLabels":{"x":"1"},"commonLabels":{"y":"2"}}`,
	`{"alerts":[{"status":"firing","labels":{"a":"1"}},{"status":"resolved"}],"alerts":[{"fingerprint":"f"}],"alerts":[{"generatorURL":"g"},{"endsAt":"2026-01-01T00:00:00Z"}]}`,
	`{"alerts":[{"status":"firing"}],"alerts":[]}`,
	`{"alerts":[{"status":"firing"}],"alerts":null}`,
	// Nulls: strings, numbers, times and alerts stay; maps and the list are cleared; null map values are "".
	`{"version":null,"truncatedAlerts":null,"groupLabels":null,"alerts":[null,{"startsAt":null,"labels":null,"status":null}]}`,
	`{"groupLabels":{"a":null,"b":"c"},"alerts":null}`,
	`null`, ` null `, `{}`, `{"alerts":[]}`,
	// Wrong types: an error (400) after reading everything, as encoding/json.
	`{"version":4}`, `{"version":true}`, `{"version":{}}`, `{"version":[]}`,
	`{"truncatedAlerts":1.5}`, `{"truncatedAlerts":-1}`, `{"truncatedAlerts":1e2}`, `{"truncatedAlerts":18446744073709551616}`,
	`{"truncatedAlerts":"1"}`, `{"truncatedAlerts":18446744073709551615}`, `{"truncatedAlerts":0}`,
	`{"alerts":[{"labels":{"a":1}}]}`, `{"alerts":[{"labels":["a"]}]}`, `{"alerts":{}}`, `{"alerts":[1]}`, `{"alerts":["x"]}`,
	`{"alerts":[{"startsAt":"bad"}]}`, `{"alerts":[{"startsAt":1}]}`, `{"alerts":[{"startsAt":{}}]}`, `{"alerts":[{"endsAt":"2026-01-01T00:00:00\u005a"}]}`,
	`{"alerts":[{"startsAt":"2026-01-01T00:00:00+01:00"}]}`, `{"alerts":[{"startsAt":"2026-01-01 00:00:00Z"}]}`,
	`[]`, `"x"`, `1`, `true`, `[{"version":"4"}]`,
	// Syntax: anywhere in the body, unknown fields included.
	``, ` `, `{`, `{"version":"4"} x`, `{"version":"4",}`, `{"version":"4"}}`, `{"version" "4"}`, `{version:"4"}`,
	`{"x":[1,2,{"z":null}],"y":-0.5e+7,"w":[true,false,null,{}],"v":0}`,
	`{"x":01}`, `{"x":1.}`, `{"x":-}`, `{"x":+1}`, `{"x":.5}`, `{"x":1e}`, `{"x":tru}`, `{"x":nul}`, `{"x":[1,]}`, `{"x":[,1]}`,
	`{"x":NaN}`, `{"x":Infinity}`, "\ufeff{}", "{\"version\":\"4\"}\x00", "{\"version\":\"4\"\v}",
	"\t\r\n {\"version\" :\t\"4\" ,\n\"alerts\" : [ ] } \n",
	strings.Repeat(`{"x":`, 9998) + `1` + strings.Repeat(`}`, 9998),
	strings.Repeat(`{"x":`, 10000) + `1` + strings.Repeat(`}`, 10000),
	`{"alerts":[` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `]}`,
}

// amDecodeBodies are the captured payloads, the fuzz corpora and amDecodeCases.
func amDecodeBodies(tb testing.TB) [][]byte {
	tb.Helper()
	var bodies [][]byte
	for _, pattern := range []string{"testdata/*/*.json", "testdata/*/*/*.json", "testdata/*/*/*/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			bodies = append(bodies, b)
		}
	}
	corpora, _ := filepath.Glob("fuzz/testdata/fuzz/*/*")
	for _, f := range corpora {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
				if err != nil {
					tb.Fatalf("%s: %v", f, err)
				}
				bodies = append(bodies, []byte(s))
			}
		}
	}
	if len(bodies) < 100 {
		tb.Fatalf("only %d captured payloads and corpus entries found", len(bodies))
	}
	for _, c := range amDecodeCases {
		bodies = append(bodies, []byte(c))
	}
	return bodies
}

// checkSameDecode fails unless unmarshalAlertmanager decodes body as json.Unmarshal does: the same
// message, or an error from both.
func checkSameDecode(t *testing.T, body []byte) {
	t.Helper()
	var want, got amMessage
	wantErr := json.Unmarshal(body, &want)
	gotErr := unmarshalAlertmanager(body, &got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("body %.300q: encoding/json says %v, amDecoder says %v", body, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("body %.300q decodes differently:\nencoding/json %#v\namDecoder     %#v", body, want, got)
	}
}

func TestUnmarshalAlertmanagerMatchesEncodingJSON(t *testing.T) {
	for _, body := range amDecodeBodies(t) {
		checkSameDecode(t, body)
		// Payloads with their first alert's values made hostile: escaped, invalid UTF-8, wrong types.
		for _, r := range []struct{ old, new string }{
			{`"alertname":"`, `"alertname":"\u00e9\ud800\"\\\n\xff`},
			{`"status":"firing"`, `"status":null`},
			{`"labels":{`, `"labels":null,"Labels":{"x":null,`},
			{`"startsAt":"`, `"startsAt":null,"StartsAt":"`},
			{`"truncatedAlerts":0`, `"truncatedAlerts":"0"`},
		} {
			if strings.Contains(string(body), r.old) {
				checkSameDecode(t, []byte(strings.Replace(string(body), r.old, r.new, 1)))
			}
		}
	}
}

// TestUnmarshalAlertmanagerErrors checks that decoding errors still say where the body is wrong.
func TestUnmarshalAlertmanagerErrors(t *testing.T) {
	for body, want := range map[string]string{
		"{\n\"version\":\"4\",}":          "invalid character '}' looking for beginning of object key string (line 2, offset 17)",
		`{"truncatedAlerts":"zero"}`:      `field "truncatedAlerts": cannot use JSON string as uint64`,
		`{"alerts":[{"labels":{"a":1}}]}`: `field "alerts.labels": cannot use JSON number as string (offset 27)`,
		`{"version":"4"`:                  "unexpected end of JSON input",
	} {
		_, err := decodeAlertmanager([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("body %q: error %v, want it to say %q", body, err, want)
		}
	}
}

// FuzzUnmarshalAlertmanager compares amDecoder with encoding/json on any body.
func FuzzUnmarshalAlertmanager(f *testing.F) {
	for _, body := range amDecodeBodies(f) {
		if len(body) <= 64<<10 {
			f.Add(body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameDecode(t, body)
	})
}
