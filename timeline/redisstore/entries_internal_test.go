package redisstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The reply parser reads XRANGE as RESP2 and RESP3 servers send it, and turns anything else into
// an error that says what it found, never into entries.
func TestParseXRange(t *testing.T) {
	entry := "*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nt\r\n$2\r\n42\r\n$1\r\ne\r\n$7\r\n{\"a\":1}\r\n"
	for _, tc := range []struct {
		name, reply string
		entries     int
		err         string
	}{
		{"empty", "*0\r\n", 0, ""},
		{"null", "*-1\r\n", 0, ""},
		{"RESP3 null", "_\r\n", 0, ""},
		{"two entries", "*2\r\n" + entry + entry, 2, ""},
		{"RESP3 map of fields", "*1\r\n*2\r\n$3\r\n1-0\r\n%2\r\n$1\r\nt\r\n$2\r\n42\r\n$1\r\ne\r\n$7\r\n{\"a\":1}\r\n", 1, ""},
		{"error reply", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 0, "WRONGTYPE"},
		{"RESP3 blob error", "!11\r\nLOADING now\r\n", 0, "LOADING now"},
		{"no event field", "*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nt\r\n$2\r\n42\r\n", 0, "malformed stream entry"},
		{"cut short", "*2\r\n" + entry + entry[:20], 1, "reply ends early"},
		{"trailing bytes", "*1\r\n" + entry + "+OK\r\n", 1, "after the last entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := parseXRange([]byte(tc.reply), nil)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if len(items) != tc.entries {
				t.Fatalf("%d entries, want %d", len(items), tc.entries)
			}
			for _, it := range items {
				if string(it.cursor) != "1-0" || it.at != 42 || string(it.value) != `{"a":1}` {
					t.Fatalf("entry %q %d %q", it.cursor, it.at, it.value)
				}
			}
		})
	}
	if err := (&respReader{b: []byte("-LOADING Redis is loading\r\n")}).replyError([]byte("-LOADING Redis is loading")); !unavailable(err) {
		t.Fatalf("%v: a LOADING reply must count as unavailable (retry later)", err)
	}
}

// Events stored as plain JSON (what versions before the compact format wrote) come back as slices of
// the reply buffer, which the next chunk overwrites: they must be copied out. And a stream longer
// than expected (entries appended while it is read) still gives every entry once, in order.
func TestStreamReaderPlainJSONAndUnexpectedLength(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, Options{})
	ctx := context.Background()
	const n = 2500
	pipe := rdb.Pipeline()
	for i := range n {
		js := fmt.Sprintf(`{"id":"e%d","fact":"%s"}`, i, strings.Repeat("x", i%300))
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.eventsKey("plain"), Values: []any{"t", i % 7, "e", js}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for _, expect := range []int{0, 500, n, 2 * n} {
		r := s.newStreamReader(ctx, "plain")
		if err := rdb.Process(ctx, r.chunkCmd(ctx, "-")); err != nil {
			t.Fatal(err)
		}
		es, err := r.read(ctx, "-", expect)
		r.release()
		if err != nil || len(es) != n {
			t.Fatalf("expect %d: %d entries, %v", expect, len(es), err)
		}
		for i, e := range es {
			want := fmt.Sprintf(`{"id":"e%d","fact":"%s"}`, i, strings.Repeat("x", i%300))
			if string(e.JSON) != want || e.At != int64(i%7) || e.Cursor == "" || (i > 0 && e.Cursor == es[i-1].Cursor) {
				t.Fatalf("expect %d: entry %d is %q at %d (%s), want %q", expect, i, e.JSON, e.At, e.Cursor, want)
			}
		}
	}
}
