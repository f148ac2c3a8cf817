package mailparse

import (
	"regexp"
	"strings"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

// The quote layer finds where the sender's new text ends. What follows is
// either a quoted earlier message (a reply: never read for order lines) or
// a forwarded one (read, and the handler decides whether to trust it).
//
// Recognised, in English, German, French, Spanish, Italian, Dutch,
// Portuguese, Russian and Japanese as the clients write them:
//
//   - Outlook's "-----Original Message-----" line and its translations, and
//     the separator-less block of From:/Sent:/To:/Subject: lines (Outlook
//     2016+, Outlook on the web and mobile), with or without a line of
//     underscores above it;
//   - "On … wrote:" attributions of Gmail, Apple Mail and Thunderbird, also
//     wrapped over two lines, and Gmail's "<date> Name <addr>:" form;
//   - forward separators: "---------- Forwarded message ---------", "Begin
//     forwarded message:", "-------- Forwarded Message --------" and their
//     translations;
//   - the HTML quote containers, via quoteMarker.
//
// Lines starting with ">" are quoted wherever they are.

var (
	originalRE    = regexp.MustCompile(`(?i)^-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|mensagem original|исходное сообщение|元のメッセージ|オリジナル メッセージ)\s*-{2,}$`)
	forwardSepRE  = regexp.MustCompile(`(?i)^(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada|пересылаемое сообщение|пересланное сообщение|転送メッセージ|転送されたメッセージ)\s*-{2,}|begin forwarded message:|anfang der weitergeleiteten nachricht:|début du message réexpédié\s?:|inicio del mensaje reenviado:|inizio messaggio inoltrato:|begin doorgestuurd bericht:|início da mensagem reencaminhada:|начало переадресованного сообщения:|転送されたメッセージ:)$`)
	underscoresRE = regexp.MustCompile(`^_{10,}$`)
	attributionRE = regexp.MustCompile(`(?i)^(?:on\s.+\swrote:|am\s.+\sschrieb.*:|le\s.+\sa écrit\s?:|el\s.+\sescribió:|il\s.+\sha scritto:|op\s.+\s(?:schreef.*|het volgende geschreven):|em\s.+\sescreveu:|.+\s(?:пишет|написал|написала|написал\(а\)):|.+(?:のメール|さんは書きました)\s?:)$`)
	// Gmail in several languages: "2026年3月2日(月) 9:15 Name <addr>:" and
	// "пн, 2 мар. 2026 г. в 09:15, Name <addr>:".
	gmailAttrRE  = regexp.MustCompile(`^.*\d.*<[^<>@\s]+@[^<>\s]+>\)?:$`)
	fwdSubjectRE = regexp.MustCompile(`(?i)^\s*(?:\[?(?:fwd?|wg|tr|rv|enc|doorst|i|пересл|転送)\s*:)`)

	fromHdrRE    = regexp.MustCompile(`(?i)^(?:from|von|de|da|van|от|差出人|送信者)\s*:\s*(.*)$`)
	sentHdrRE    = regexp.MustCompile(`(?i)^(?:sent|date|gesendet|datum|envoyé|date|enviado(?: el)?|fecha|inviato|data|verzonden|enviada em|отправлено|дата|送信日時|日付|日時)\s*:`)
	toHdrRE      = regexp.MustCompile(`(?i)^(?:to|an|à|a|para|aan|кому|宛先)\s*:`)
	subjectHdrRE = regexp.MustCompile(`(?i)^(?:subject|betreff|objet|asunto|oggetto|onderwerp|assunto|тема|件名)\s*:`)
	ccHdrRE      = regexp.MustCompile(`(?i)^(?:cc|kopie|cci|bcc|копия|reply-to)\s*:`)
)

// quoteSplit is where the new text ends.
type quoteSplit struct {
	// end is the index of the first quoted line (len(lines) when none).
	end int
	// forward reports that lines from fwdStart on are a forwarded message.
	forward  bool
	fwdStart int
	fwdFrom  domain.Customer
}

// headerLine strips quoting and table tabs for header detection.
func headerLine(l string) string {
	l = strings.TrimSpace(strings.ReplaceAll(l, "\t", " "))
	for strings.HasPrefix(l, ">") {
		l = strings.TrimSpace(l[1:])
	}
	l = strings.TrimPrefix(l, "*") // Outlook plain text bolds header names
	l = strings.ReplaceAll(l, ":*", ":")
	return l
}

func isHeader(l string) bool {
	return fromHdrRE.MatchString(l) || sentHdrRE.MatchString(l) || toHdrRE.MatchString(l) ||
		subjectHdrRE.MatchString(l) || ccHdrRE.MatchString(l)
}

// headerBlockAt reports an Outlook-style header block starting at i: a From
// line followed, within five lines, by at least two of Sent/Date, To and
// Subject.
func headerBlockAt(lines []string, i int) bool {
	if c := strings.IndexByte(lines[i], ':'); c < 0 || c > 40 || !fromHdrRE.MatchString(headerLine(lines[i])) {
		return false
	}
	n := 0
	for j := i + 1; j < len(lines) && j <= i+5; j++ {
		h := headerLine(lines[j])
		if sentHdrRE.MatchString(h) || toHdrRE.MatchString(h) || subjectHdrRE.MatchString(h) {
			n++
		}
	}
	return n >= 2
}

func nextNonBlank(lines []string, i int) int {
	for ; i < len(lines); i++ {
		if headerLine(lines[i]) != "" {
			return i
		}
	}
	return -1
}

// splitQuote finds the end of the new text in lines (already normalised).
func splitQuote(lines []string, subject string) quoteSplit {
	fwdSubject := fwdSubjectRE.MatchString(subject)
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		// Every rule below needs a colon, a run of dashes or underscores,
		// or the marker: most lines are ruled out without a regexp.
		if !strings.ContainsRune(l, ':') && !strings.HasPrefix(l, "--") && !strings.HasPrefix(l, "__") &&
			l != quoteMarker && !strings.ContainsRune(l, '<') {
			continue
		}
		h := headerLine(lines[i])
		colonEnd := strings.HasSuffix(l, ":")
		switch {
		case l == quoteMarker:
			// What the container holds decides: a forward separator or a
			// header block right after it, or a forward subject.
			if j := nextNonBlank(lines, i+1); j >= 0 && j <= i+3 {
				if forwardSepRE.MatchString(headerLine(lines[j])) {
					return forwardAt(lines, i, j+1)
				}
			}
			if fwdSubject {
				return forwardAt(lines, i, i+1)
			}
			return quoteSplit{end: i}
		case forwardSepRE.MatchString(h):
			return forwardAt(lines, i, i+1)
		case originalRE.MatchString(l), strings.HasPrefix(l, "-----") && originalRE.MatchString(h):
			if fwdSubject {
				return forwardAt(lines, i, i+1)
			}
			return quoteSplit{end: i}
		case underscoresRE.MatchString(l):
			if j := nextNonBlank(lines, i+1); j >= 0 && j <= i+2 && headerBlockAt(lines, j) {
				if fwdSubject {
					return forwardAt(lines, i, j)
				}
				return quoteSplit{end: i}
			}
		case headerBlockAt(lines, i):
			if fwdSubject {
				return forwardAt(lines, i, i)
			}
			return quoteSplit{end: i}
		case colonEnd && !strings.HasPrefix(l, ">") && (attributionRE.MatchString(l) || gmailAttrRE.MatchString(l)):
			return quoteSplit{end: i}
		case i+1 < len(lines) && !strings.HasPrefix(l, ">") && l != "" && strings.HasSuffix(strings.TrimSpace(lines[i+1]), ":") &&
			(attributionRE.MatchString(l+" "+strings.TrimSpace(lines[i+1])) || attributionRE.MatchString(l+strings.TrimSpace(lines[i+1]))):
			// Gmail wraps long attributions: "On …, Name <\naddr> wrote:".
			return quoteSplit{end: i}
		}
	}
	return quoteSplit{end: len(lines)}
}

// forwardAt returns a forward whose separator is at i and whose header
// block starts at or after hdr: the block is skipped and its From kept.
func forwardAt(lines []string, i, hdr int) quoteSplit {
	s := quoteSplit{end: i, forward: true, fwdStart: len(lines)}
	j := hdr
	for j < len(lines) && headerLine(lines[j]) == "" {
		j++
	}
	seen := false
	for ; j < len(lines); j++ {
		h := headerLine(lines[j])
		if h == "" {
			if seen {
				break
			}
			continue
		}
		if underscoresRE.MatchString(h) || originalRE.MatchString(h) || forwardSepRE.MatchString(h) {
			continue
		}
		if !isHeader(h) {
			break
		}
		seen = true
		if m := fromHdrRE.FindStringSubmatch(h); m != nil && s.fwdFrom.Address == "" {
			if c, ok := looseAddress(m[1]); ok {
				s.fwdFrom = c
			}
		}
	}
	s.fwdStart = j
	return s
}

// unquote strips one level of ">" quoting from a forwarded line.
func unquote(l string) string {
	t := strings.TrimLeft(l, " ")
	if strings.HasPrefix(t, ">") {
		t = t[1:]
		return strings.TrimPrefix(t, " ")
	}
	return l
}
