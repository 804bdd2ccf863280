package i18n

import "errors"

// Message is one of postmortemd's sentences kept as its catalogue id and arguments rather than as
// words, so that each reader gets it in their language (Printer.Say) and a stored one can be said
// again in another. Its JSON, {"code": ..., "args": {...}}, is the machine form an API exposes
// beside the English sentence.
type Message struct {
	// Code is the catalogue's message id.
	Code string `json:"code"`
	// Args are the message's values, as written (names, numbers, dates in a machine format).
	Args map[string]string `json:"args,omitempty"`
	// Detail is a message said inside this one, as its {{.Detail}}.
	Detail *Message `json:"detail,omitempty"`
}

// Msg returns the message code with args, pairs of name and value.
func Msg(code string, args ...string) Message {
	m := Message{Code: code}
	if len(args) > 1 {
		m.Args = make(map[string]string, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			m.Args[args[i]] = args[i+1]
		}
	}
	return m
}

// Say writes m in the printer's language; a message without a code is empty.
func (p Printer) Say(m Message) string {
	if m.Code == "" {
		return ""
	}
	data := make([]any, 0, 2*len(m.Args)+2)
	for k, v := range m.Args {
		data = append(data, k, v)
	}
	if m.Detail != nil {
		data = append(data, "Detail", p.Say(*m.Detail))
	}
	return p.T(m.Code, data...)
}

// Reason is an error that says why postmortemd refused something as a Message: its Error is the
// English sentence (logs and the API's "error" keep it), and a page finds it with errors.As (see
// ReasonOf) to say it in the reader's language. Err, when set, is what it wraps (a sentinel such
// as timeline.ErrInvalid, or the error it explains).
type Reason struct {
	Message
	Err error
}

// Refuse returns a *Reason for message code with args (pairs of name and value).
func Refuse(code string, args ...string) *Reason {
	return &Reason{Message: Msg(code, args...)}
}

// Error is the reason in English.
func (r *Reason) Error() string {
	return For(English).Say(r.Message)
}

// Unwrap returns the error the reason wraps.
func (r *Reason) Unwrap() error {
	return r.Err
}

// ReasonOf returns the outermost Reason in err's chain, if there is one.
func ReasonOf(err error) (*Reason, bool) {
	var r *Reason
	if errors.As(err, &r) {
		return r, true
	}
	return nil, false
}
