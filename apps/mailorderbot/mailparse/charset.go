package mailparse

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
)

// isUTF7 reports the charset names UTF-7 goes by. go-message has no UTF-7
// decoder; old Outlook and some webmailers still send it.
func isUTF7(cs string) bool {
	cs = strings.ToLower(strings.TrimSpace(cs))
	return cs == "utf-7" || cs == "utf7" || cs == "unicode-1-1-utf-7" || cs == "x-unicode-2-0-utf-7"
}

// decodeUTF7 decodes RFC 2152 UTF-7. Malformed shifts keep their bytes.
func decodeUTF7(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '+' {
			out.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(b) && isB64(b[j]) {
			j++
		}
		if j == i+1 { // "+-" is a literal plus
			out.WriteByte('+')
			if j < len(b) && b[j] == '-' {
				i = j
			}
			continue
		}
		enc := string(b[i+1 : j])
		raw, err := base64.RawStdEncoding.DecodeString(enc)
		if err != nil {
			out.Write(b[i:j])
			i = j - 1
			continue
		}
		u := make([]uint16, 0, len(raw)/2)
		for k := 0; k+1 < len(raw); k += 2 {
			u = append(u, uint16(raw[k])<<8|uint16(raw[k+1]))
		}
		out.WriteString(string(utf16.Decode(u)))
		if j < len(b) && b[j] == '-' {
			j++
		}
		i = j - 1
	}
	return out.String()
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// sniffHTML decodes an HTML body whose part named no charset: by its
// <meta charset> (or http-equiv) when the bytes are not UTF-8, the way a
// browser would.
func sniffHTML(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	enc, _, _ := charset.DetermineEncoding(b, "text/html")
	if d, err := enc.NewDecoder().Bytes(b); err == nil {
		return string(d)
	}
	return strings.ToValidUTF8(string(b), "\ufffd")
}

// sniffText decodes a text part that named no charset (or an unknown one)
// and is not UTF-8: as windows-1252, which is what such mail nearly always
// is and what mail clients assume.
func sniffText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	if d, err := charmap.Windows1252.NewDecoder().Bytes(b); err == nil {
		return string(d)
	}
	return string(bytes.ToValidUTF8(b, []byte("\ufffd")))
}
