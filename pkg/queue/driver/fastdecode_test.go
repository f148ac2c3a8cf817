package driver

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

func fastSeeds() []string {
	seeds := []string{
		`{}`, `{"plba":1}`, `{"plba":1,"id":"a","kind":"k","payload":"aGk=","attrs":{"x":"y"},"enqueued_at":"2026-11-22T01:02:03.5Z"}`,
		` { "plba" : 1 , "id" : "a" } `, `{"plba":01,"id":"a"}`, `{"plba":1.0}`, `{"PLBA":1,"ID":"a"}`, `{"id":"a\"b"}`,
		`{"id":"a","id":"b"}`, `{"attrs":{"a":"1","a":"2"}}`, `{"attrs":null}`, `{"payload":"a\nGk="}`, `{"id":"\u00e9"}`,
		`{"enqueued_at":"2026-13-40T00:00:00Z"}`, `{"plba":1,}`, `{"plba":1}x`, `{"id":"` + "\xff" + `"}`, `{"plba":-1}`,
		`{"plba":1234567890123}`, `{"payload":""}`, `{"attrs":{}}`,
	}
	for _, tk := range []contracts.Task{
		{ID: "imap:INBOX:1:2", Kind: "imap.message", Payload: []byte("raw \x00\xff message"), EnqueuedAt: time.Unix(1_800_000_000, 123456789)},
		{ID: "x", Attributes: map[string]string{"a": "b", "plba.kind": "reserved goes to the body", "k<>&": "escaped by json"}},
	} {
		e, err := Encode(tk)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, string(e))
	}
	return seeds
}

// FuzzDecodeFast: whenever the fast path accepts a body, encoding/json
// accepts it too and yields the same envelope.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, ok := decodeFast(body)
		if !ok {
			return
		}
		var want Envelope
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path %q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}

// What Encode writes takes the fast path.
func TestEncodedBodiesTakeTheFastPath(t *testing.T) {
	e, err := Encode(contracts.Task{ID: "imap:INBOX:7:42", Kind: "imap.message", Payload: []byte("From: a@b\r\n\r\nSKU-1 x 2"),
		EnqueuedAt: time.Now(), Attributes: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			"plba.source": "imap", "a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8"}})
	if err != nil {
		t.Fatal(err)
	}
	env, ok := decodeFast(string(e))
	if !ok {
		t.Fatalf("fast path refused an encoded body: %s", e)
	}
	if env.ID != "imap:INBOX:7:42" || string(env.Payload) != "From: a@b\r\n\r\nSKU-1 x 2" || len(env.Attrs) == 0 {
		t.Fatalf("decoded %+v", env)
	}
}
