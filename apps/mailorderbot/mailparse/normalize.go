package mailparse

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// After NFKC (which folds full-width letters and digits, NBSP, U+3000 and
// the like), these are still not what a strict order-line rule can match:
// Unicode dashes and minus signs, multiplication signs, and invisible
// characters Outlook and web editors leave in text.
var fold = strings.NewReplacer(
	"\u00ad", "", "\u200b", "", "\u200c", "", "\u200d", "", "\u2060", "", "\ufeff", "",
	"\u2010", "-", "\u2011", "-", "\u2012", "-", "\u2013", "-", "\u2014", "-", "\u2015", "-",
	"\u2212", "-", "\ufe63", "-", "\u30fc", "-",
	"\u00d7", "x", "\u2715", "x", "\u2716", "x", "\u2a09", "x", "\u2a2f", "x",
	"\u00a0", " ", "\u2007", " ", "\u202f", " ", "\u3000", " ",
)

// normalize prepares one line of text for matching: NFKC, then fold.
func normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\ufffd")
	}
	isASCII := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			isASCII = false
			break
		}
	}
	if isASCII {
		return s
	}
	return fold.Replace(norm.NFKC.String(s))
}

// clean makes text safe to show to a person: normalised, control
// characters turned into spaces, no escape sequences.
func clean(s string) string {
	s = normalize(s)
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// quote wraps text for a reason shown to a customer, without Go escapes.
func quote(s string) string { return "\u201c" + truncate(clean(s), 120) + "\u201d" }
