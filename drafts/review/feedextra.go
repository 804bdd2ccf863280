package review

import (
	"bytes"
	"fmt"

	"github.com/emersion/go-ical"
)

// AddToFeed adds other components (the reading group's sessions, say) to a calendar Feed made,
// so /calendar.ics stays one subscription; the result is made safe and folded as Feed's is. A
// component that cannot be written is left out and reported to skipped (when set): it never takes
// the rest of the feed down.
func AddToFeed(feed []byte, skipped func(error), comps ...*ical.Component) ([]byte, error) {
	if len(comps) == 0 {
		return feed, nil
	}
	cal, err := ical.NewDecoder(bytes.NewReader(feed)).Decode()
	if err != nil {
		return nil, fmt.Errorf("read calendar feed: %w", err)
	}
	for _, c := range comps {
		if err := encodable(c); err != nil {
			if skipped != nil {
				skipped(err)
			}
			continue
		}
		cal.Children = append(cal.Children, c)
	}
	return encode(cal)
}

// EncodeCalendar writes cal as the review's own calendars are written: made safe, then folded. It
// lets another consumer of the transports (the reading group) build invitations they accept.
func EncodeCalendar(cal *ical.Calendar) ([]byte, error) { return encode(cal) }
