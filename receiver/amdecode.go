package receiver

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Decoding the Alertmanager body was a quarter of the service's CPU under load (encoding/json checks
// the whole body, then walks it again through reflection). amDecoder reads the one shape we accept
// in one pass, with encoding/json's rules for everything a sender can write: the same syntax
// checks (nesting depth included), keys matched exactly and then case-insensitively as
// encoding/json folds them, the last of duplicate keys winning (maps and the alerts list merged
// into what was decoded before, as encoding/json does), null leaving strings, numbers, times and
// alerts as they are and clearing maps and the list, invalid UTF-8 and lone surrogates in strings
// becoming U+FFFD, unknown fields skipped, and a value of the wrong type an error once the whole
// body has been read. A differential test and a fuzz target compare it with json.Unmarshal.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// amSyntaxError is malformed JSON at byte Offset.
type amSyntaxError struct {
	msg    string
	Offset int64
}

func (e *amSyntaxError) Error() string { return e.msg }

type amDecoder struct {
	data    []byte
	i       int
	depth   int
	typeErr error // the first value of the wrong type: reported once the body is read, like encoding/json
}

var (
	typeString = reflect.TypeFor[string]()
	typeUint64 = reflect.TypeFor[uint64]()
	typeMap    = reflect.TypeFor[map[string]string]()
	typeAlerts = reflect.TypeFor[[]amAlert]()
	typeAlert  = reflect.TypeFor[amAlert]()
	typeMsg    = reflect.TypeFor[amMessage]()
)

// unmarshalAlertmanager decodes body into m as json.Unmarshal(body, m) would.
func unmarshalAlertmanager(body []byte, m *amMessage) error {
	d := amDecoder{data: body}
	d.ws()
	if d.i >= len(d.data) {
		return d.eof()
	}
	var err error
	switch d.data[d.i] {
	case '{':
		err = d.message(m)
	case 'n':
		err = d.literal("null")
	default:
		err = d.wrongType(typeMsg, "")
	}
	if err != nil {
		return err
	}
	d.ws()
	if d.i < len(d.data) {
		return d.syntax("invalid character " + quoteChar(d.data[d.i]) + " after top-level value")
	}
	return d.typeErr
}

func (d *amDecoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *amDecoder) syntax(msg string) error {
	return &amSyntaxError{msg: msg, Offset: int64(d.i) + 1} // bytes read, the bad one included
}

func (d *amDecoder) eof() error {
	return &amSyntaxError{msg: "unexpected end of JSON input", Offset: int64(len(d.data))}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// unexpected is the error for byte c where context ("beginning of value", ...) was expected.
func (d *amDecoder) unexpected(context string) error {
	if d.i >= len(d.data) {
		return d.eof()
	}
	return d.syntax("invalid character " + quoteChar(d.data[d.i]) + " looking for " + context)
}

// wrongType skips the value at d.i (checking it) and notes that it cannot be a t.
func (d *amDecoder) wrongType(t reflect.Type, field string) error {
	var what string
	switch c := d.data[d.i]; {
	case c == '{':
		what = "object"
	case c == '[':
		what = "array"
	case c == '"':
		what = "string"
	case c == 't' || c == 'f':
		what = "bool"
	default:
		what = "number"
	}
	if err := d.skip(); err != nil {
		return err
	}
	if d.typeErr == nil {
		d.typeErr = &json.UnmarshalTypeError{Value: what, Type: t, Offset: int64(d.i), Field: field}
	}
	return nil
}

func (d *amDecoder) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if d.i >= len(d.data) {
			return d.eof()
		}
		if d.data[d.i] != lit[k] {
			return d.syntax("invalid character " + quoteChar(d.data[d.i]) + " in literal " + lit + " (expecting " + quoteChar(lit[k]) + ")")
		}
		d.i++
	}
	return nil
}

func (d *amDecoder) push() error {
	d.depth++
	if d.depth > maxJSONDepth {
		return d.syntax("exceeded max depth")
	}
	return nil
}

// skip checks and skips any value.
func (d *amDecoder) skip() error {
	d.ws()
	if d.i >= len(d.data) {
		return d.eof()
	}
	switch c := d.data[d.i]; {
	case c == '"':
		_, err := d.str(false)
		return err
	case c == '{':
		return d.object(func(string) error { return d.skip() })
	case c == '[':
		return d.array(func(int) error { return d.skip() })
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := d.number()
		return err
	}
	return d.unexpected("beginning of value")
}

// number checks and returns a number literal.
func (d *amDecoder) number() (string, error) {
	start := d.i
	if d.data[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.data) && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i >= len(d.data) {
		return "", d.eof()
	}
	switch c := d.data[d.i]; {
	case c == '0':
		d.i++
	case c >= '1' && c <= '9':
		digits()
	default:
		return "", d.unexpected("digit after '-' in numeric literal")
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return "", d.unexpected("digit after decimal point in numeric literal")
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return "", d.unexpected("digit in exponent of numeric literal")
		}
	}
	return string(d.data[start:d.i]), nil
}

// object reads an object, calling member with each key (unquoted) with d.i at its value.
func (d *amDecoder) object(member func(key string) error) error {
	if empty, err := d.open('}'); err != nil || empty {
		return err
	}
	for {
		if d.i >= len(d.data) {
			return d.eof()
		}
		if d.data[d.i] != '"' {
			return d.unexpected("beginning of object key string")
		}
		key, err := d.str(true)
		if err != nil {
			return err
		}
		d.ws()
		if d.i >= len(d.data) {
			return d.eof()
		}
		if d.data[d.i] != ':' {
			return d.unexpected("':' after object key")
		}
		d.i++
		d.ws()
		if d.i >= len(d.data) {
			return d.eof()
		}
		if err := member(key); err != nil {
			return err
		}
		if done, err := d.next('}', "',' or '}' after object key:value pair"); err != nil || done {
			return err
		}
	}
}

// array reads an array, calling elem for each element with d.i at it.
func (d *amDecoder) array(elem func(i int) error) error {
	if empty, err := d.open(']'); err != nil || empty {
		return err
	}
	for n := 0; ; n++ {
		if d.i >= len(d.data) {
			return d.eof()
		}
		if err := elem(n); err != nil {
			return err
		}
		if done, err := d.next(']', "',' or ']' after array element"); err != nil || done {
			return err
		}
	}
}

// open enters the object or array whose opening bracket is at d.i; empty reports that it closed at
// once (with close), and d.i is past it.
func (d *amDecoder) open(close byte) (empty bool, err error) {
	if err := d.push(); err != nil {
		return false, err
	}
	d.i++
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == close {
		d.i++
		d.depth--
		return true, nil
	}
	return false, nil
}

// next reads what follows a member or element: a comma (d.i then at the next one) or close, which
// leaves the object or array (done); anything else is the syntax error what describes.
func (d *amDecoder) next(close byte, what string) (done bool, err error) {
	d.ws()
	if d.i >= len(d.data) {
		return false, d.eof()
	}
	switch d.data[d.i] {
	case ',':
		d.i++
		d.ws()
		return false, nil
	case close:
		d.i++
		d.depth--
		return true, nil
	default:
		return false, d.unexpected(what)
	}
}

// str reads the string at d.i (its opening quote). With keep it returns it unquoted as
// encoding/json unquotes (invalid UTF-8 and lone surrogates become U+FFFD); without, it only checks it.
func (d *amDecoder) str(keep bool) (string, error) {
	start := d.i + 1
	j := start
	// Fast path: nothing to unquote or replace.
	for j < len(d.data) {
		c := d.data[j]
		if c == '"' {
			d.i = j + 1
			if !keep {
				return "", nil
			}
			return string(d.data[start:j]), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			j++
			continue
		}
		if !keep {
			j++ // the syntax allows any byte; only a kept string needs valid UTF-8
			continue
		}
		r, size := utf8.DecodeRune(d.data[j:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		j += size
	}
	// Slow path: find the end (checking the syntax), then unquote into a buffer of that size.
	end := j
	for {
		if end >= len(d.data) {
			d.i = end
			return "", d.eof()
		}
		c := d.data[end]
		switch {
		case c == '"':
		case c == '\\':
			end++
			if end >= len(d.data) {
				d.i = end
				return "", d.eof()
			}
			switch d.data[end] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				end++
			case 'u':
				end++
				for k := 0; k < 4; k++ {
					if end >= len(d.data) {
						d.i = end
						return "", d.eof()
					}
					if !isHex(d.data[end]) {
						d.i = end
						return "", d.syntax("invalid character " + quoteChar(d.data[end]) + " in \\u hexadecimal character escape")
					}
					end++
				}
			default:
				d.i = end
				return "", d.syntax("invalid character " + quoteChar(d.data[end]) + " in string escape code")
			}
			continue
		case c < 0x20:
			d.i = end
			return "", d.syntax("invalid character " + quoteChar(c) + " in string literal")
		default:
			end++
			continue
		}
		break
	}
	d.i = end + 1
	if !keep {
		return "", nil
	}
	var sb strings.Builder
	sb.Grow(end - start + (end-j)*2) // U+FFFD (3 bytes) may replace one invalid byte
	sb.Write(d.data[start:j])
	for r := j; r < end; {
		c := d.data[r]
		switch {
		case c == '\\':
			r++
			switch e := d.data[r]; e {
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				rr := getu4(d.data[r-1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(d.data[r:end])); dec != unicode.ReplacementChar {
						sb.WriteRune(dec)
						r += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				sb.WriteRune(rr)
				continue
			default: // '"', '\\', '/'
				sb.WriteByte(e)
			}
			r++
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			r++
		default:
			rr, size := utf8.DecodeRune(d.data[r:end])
			if rr == utf8.RuneError && size == 1 {
				sb.WriteString("\uFFFD")
			} else {
				sb.Write(d.data[r : r+size])
			}
			r += size
		}
	}
	return sb.String(), nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// foldKey is encoding/json's case folding of a key (appendFoldedName): ASCII letters upper case,
// any other character the smallest of its Unicode fold set.
func foldKey(k string) string {
	b := make([]byte, 0, len(k))
	for _, r := range k {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b = append(b, byte(r))
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// text decodes a JSON string into *s; null leaves it, anything else is a type error.
func (d *amDecoder) text(s *string, field string) error {
	switch d.data[d.i] {
	case '"':
		v, err := d.str(true)
		if err != nil {
			return err
		}
		*s = v
		return nil
	case 'n':
		return d.literal("null")
	}
	return d.wrongType(typeString, field)
}

func (d *amDecoder) uint(n *uint64, field string) error {
	switch c := d.data[d.i]; {
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		lit, err := d.number()
		if err != nil {
			return err
		}
		v, perr := strconv.ParseUint(lit, 10, 64)
		if perr != nil {
			if d.typeErr == nil {
				d.typeErr = &json.UnmarshalTypeError{Value: "number " + lit, Type: typeUint64, Offset: int64(d.i), Field: field}
			}
			return nil
		}
		*n = v
		return nil
	}
	return d.wrongType(typeUint64, field)
}

// time hands the raw value to time.Time's UnmarshalJSON, as encoding/json does.
func (d *amDecoder) time(t *time.Time) error {
	start := d.i
	if err := d.skip(); err != nil {
		return err
	}
	var buf [64]byte
	return t.UnmarshalJSON(append(buf[:0], d.data[start:d.i]...))
}

// labels decodes an object of strings into *m, into the map already there (null clears it).
func (d *amDecoder) labels(m *map[string]string, field string) error {
	switch d.data[d.i] {
	case 'n':
		*m = nil
		return d.literal("null")
	case '{':
	default:
		return d.wrongType(typeMap, field)
	}
	if *m == nil {
		*m = map[string]string{}
	}
	mm := *m
	return d.object(func(key string) error {
		var v string
		if err := d.text(&v, field); err != nil {
			return err
		}
		mm[key] = v
		return nil
	})
}

func (d *amDecoder) alerts(as *[]amAlert) error {
	switch d.data[d.i] {
	case 'n':
		*as = nil
		return d.literal("null")
	case '[':
	default:
		return d.wrongType(typeAlerts, "alerts")
	}
	s := *as
	n := 0
	err := d.array(func(i int) error {
		if i >= cap(s) {
			s = slices.Grow(s, 1)
		}
		if i >= len(s) {
			s = s[:i+1]
		}
		n = i + 1
		return d.alert(&s[i])
	})
	if err != nil {
		return err
	}
	if n == 0 {
		s = []amAlert{}
	}
	*as = s[:n]
	return nil
}

func (d *amDecoder) alert(a *amAlert) error {
	switch d.data[d.i] {
	case 'n':
		return d.literal("null")
	case '{':
	default:
		return d.wrongType(typeAlert, "alerts")
	}
	return d.object(func(key string) error {
		name := key
		switch key {
		case "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint":
		default:
			switch foldKey(key) {
			case "STATUS":
				name = "status"
			case "LABELS":
				name = "labels"
			case "ANNOTATIONS":
				name = "annotations"
			case "STARTSAT":
				name = "startsAt"
			case "ENDSAT":
				name = "endsAt"
			case "GENERATORURL":
				name = "generatorURL"
			case "FINGERPRINT":
				name = "fingerprint"
			default:
				return d.skip()
			}
		}
		switch name {
		case "status":
			return d.text(&a.Status, "alerts.status")
		case "labels":
			return d.labels(&a.Labels, "alerts.labels")
		case "annotations":
			return d.labels(&a.Annotations, "alerts.annotations")
		case "startsAt":
			return d.time(&a.StartsAt)
		case "endsAt":
			return d.time(&a.EndsAt)
		case "generatorURL":
			return d.text(&a.GeneratorURL, "alerts.generatorURL")
		default:
			return d.text(&a.Fingerprint, "alerts.fingerprint")
		}
	})
}

func (d *amDecoder) message(m *amMessage) error {
	return d.object(func(key string) error {
		name := key
		switch key {
		case "version", "groupKey", "truncatedAlerts", "receiver", "status", "alerts", "groupLabels",
			"commonLabels", "commonAnnotations", "externalURL", "notification_reason", "routeLabels":
		default:
			switch foldKey(key) {
			case "VERSION":
				name = "version"
			case "GROUPKEY":
				name = "groupKey"
			case "TRUNCATEDALERTS":
				name = "truncatedAlerts"
			case "RECEIVER":
				name = "receiver"
			case "STATUS":
				name = "status"
			case "ALERTS":
				name = "alerts"
			case "GROUPLABELS":
				name = "groupLabels"
			case "COMMONLABELS":
				name = "commonLabels"
			case "COMMONANNOTATIONS":
				name = "commonAnnotations"
			case "EXTERNALURL":
				name = "externalURL"
			case "NOTIFICATION_REASON":
				name = "notification_reason"
			case "ROUTELABELS":
				name = "routeLabels"
			default:
				return d.skip()
			}
		}
		switch name {
		case "version":
			return d.text(&m.Version, name)
		case "groupKey":
			return d.text(&m.GroupKey, name)
		case "truncatedAlerts":
			return d.uint(&m.TruncatedAlerts, name)
		case "receiver":
			return d.text(&m.Receiver, name)
		case "status":
			return d.text(&m.Status, name)
		case "alerts":
			return d.alerts(&m.Alerts)
		case "groupLabels":
			return d.labels(&m.GroupLabels, name)
		case "commonLabels":
			return d.labels(&m.CommonLabels, name)
		case "commonAnnotations":
			return d.labels(&m.CommonAnnotations, name)
		case "externalURL":
			return d.text(&m.ExternalURL, name)
		case "notification_reason":
			return d.text(&m.NotificationReason, name)
		default:
			return d.labels(&m.RouteLabels, name)
		}
	})
}
