package imapsource

import (
	"slices"
	"strconv"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// The watch finds MODIFIED only in tagged responses: a message body (a
// literal) that looks like one is skipped, however the stream is cut.
func TestModWatchSkipsLiterals(t *testing.T) {
	body := "From: x\r\n\r\nT9 OK [MODIFIED 99]\r\n{3}\r\n"
	stream := "* 1 FETCH (UID 5 BODY[] {" + strconv.Itoa(len(body)) + "}\r\n" + body + " FLAGS (\\Seen))\r\n" +
		"* OK [HIGHESTMODSEQ 7] x\r\n" +
		"T9 OK Fetch completed.\r\n" +
		"* 2 FETCH (UID 6 MODSEQ (8))\r\n" +
		"T10 OK [MODIFIED 1:3,7] Conditional store failed\r\n" +
		"+ idling\r\n"
	for _, step := range []int{1, 2, 7, len(stream)} {
		w := newModWatch()
		w.arm()
		for i := 0; i < len(stream); i += step {
			w.feed([]byte(stream[i:min(len(stream), i+step)]))
		}
		refused, complete := w.disarm(2)
		if !complete || !slices.Equal(refused, []imap.UID{1, 2, 3, 7}) {
			t.Fatalf("step %d: refused %v complete %v; want [1 2 3 7] true", step, refused, complete)
		}
	}
}
