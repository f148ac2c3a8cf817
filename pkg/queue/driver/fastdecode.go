package driver

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// decodeFast parses the envelope exactly as Encode writes it, without
// reflection: the Lambda worker decodes one envelope per record, and
// encoding/json's reflection was most of its cost over a bare handler. It
// returns ok=false for anything outside that narrow shape — escapes,
// invalid UTF-8, unknown or repeated keys, nulls, other number forms — and
// the caller then uses encoding/json, so the result never differs from
// json.Unmarshal (FuzzDecodeFast checks that).
func decodeFast(s string) (env Envelope, ok bool) {
	p := fastParser{s: s}
	if !p.byte('{') {
		return env, false
	}
	var seen uint8
	if p.peek() == '}' {
		p.i++
		return env, p.end()
	}
	for {
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return env, false
		}
		var bit uint8
		switch key {
		case "plba":
			bit = 1
			n, ok := p.uint()
			if !ok {
				return env, false
			}
			env.Version = n
		case "id":
			bit = 2
			if env.ID, ok = p.str(); !ok {
				return env, false
			}
		case "kind":
			bit = 4
			if env.Kind, ok = p.str(); !ok {
				return env, false
			}
		case "payload":
			bit = 8
			v, ok := p.str()
			if !ok {
				return env, false
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return env, false
			}
			env.Payload = b
		case "attrs":
			bit = 16
			if env.Attrs, ok = p.strMap(); !ok {
				return env, false
			}
		case "enqueued_at":
			bit = 32
			v, ok := p.str()
			if !ok || env.EnqueuedAt.UnmarshalText([]byte(v)) != nil {
				return env, false
			}
		default:
			return env, false
		}
		if seen&bit != 0 {
			return env, false
		}
		seen |= bit
		switch p.next() {
		case ',':
		case '}':
			return env, p.end()
		default:
			return env, false
		}
	}
}

type fastParser struct {
	s string
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) peek() byte {
	p.ws()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *fastParser) next() byte {
	c := p.peek()
	if c != 0 {
		p.i++
	}
	return c
}

func (p *fastParser) byte(c byte) bool { return p.next() == c }

func (p *fastParser) end() bool {
	p.ws()
	return p.i == len(p.s)
}

// str reads a string without escapes, control characters or invalid UTF-8.
func (p *fastParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	j := strings.IndexByte(p.s[p.i:], '"')
	if j < 0 {
		return "", false
	}
	v := p.s[p.i : p.i+j]
	for k := 0; k < len(v); k++ {
		if c := v[k]; c == '\\' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.ValidString(v) {
		return "", false
	}
	p.i += j + 1
	return v, true
}

// uint reads a small non-negative integer written as plain digits.
func (p *fastParser) uint() (int, bool) {
	p.ws()
	start, n := p.i, 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' && p.i-start < 9 {
		n = n*10 + int(p.s[p.i]-'0')
		p.i++
	}
	if p.i == start || (p.i-start > 1 && p.s[start] == '0') {
		return 0, false
	}
	if p.i < len(p.s) {
		switch p.s[p.i] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return 0, false
		}
	}
	return n, true
}

// strMap reads an object of string values with distinct keys.
func (p *fastParser) strMap() (map[string]string, bool) {
	if !p.byte('{') {
		return nil, false
	}
	m := map[string]string{}
	if p.peek() == '}' {
		p.i++
		return m, true
	}
	for {
		k, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		if _, dup := m[k]; dup {
			return nil, false
		}
		m[k] = v
		switch p.next() {
		case ',':
		case '}':
			return m, true
		default:
			return nil, false
		}
	}
}
