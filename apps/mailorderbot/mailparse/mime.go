package mailparse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	// Registers every charset golang.org/x/text knows (windows-1251, koi8-r,
	// iso-8859-x, iso-2022-jp, ...) with go-message's decoder.
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

// The MIME layer reads mail the way mail clients do rather than the way
// RFC 5322 says it must be written. go-message parses the structure; before
// it sees a header, repairHeader and repairParams fix what real clients
// send: a BOM, header lines without a field name (unfolded continuations),
// and parameters that need quoting but are not quoted
// (boundary=----=_NextPart…, name=order list.csv).

var utf8BOM = []byte("\ufeff")

func (p *parser) parse(raw []byte) (*Request, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, ErrEmpty
	}
	raw = bytes.TrimPrefix(raw, utf8BOM)
	tooLarge := int64(len(raw)) > p.opts.MaxBytes
	if tooLarge {
		raw = raw[:p.opts.MaxBytes]
	}
	hdrEnd, bodyStart := splitHeader(raw)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(p.repairHeader(raw[:hdrEnd]))))
	if err != nil || !meaningful(h) {
		p.req.Unreadable = "no readable mail header"
		if err != nil {
			p.warn("header: %v", err)
		}
		return p.req, fmt.Errorf("%w: no readable header", ErrMalformed)
	}
	mh := message.Header{Header: h}
	repairParams(&mh)
	p.header(mail.Header{Header: mh})
	ct, _, _ := mh.ContentType()
	p.req.Automatic = automatic(h, ct)
	p.req.OrderSubject = orderSubjectRE.MatchString(normalize(p.req.Subject))
	if tooLarge {
		p.req.Unreadable = fmt.Sprintf("message too large (over %d bytes)", p.opts.MaxBytes)
		return p.req, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, p.opts.MaxBytes)
	}
	p.entity(mh, bytes.NewReader(raw[bodyStart:]), nil)
	p.collect()
	return p.req, nil
}

// splitHeader finds the blank line that ends the header (CRLF or bare LF).
func splitHeader(raw []byte) (hdrEnd, bodyStart int) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw), len(raw)
		}
		line := raw[i : i+j]
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return i, i + j + 1
		}
		i += j + 1
	}
	return len(raw), len(raw)
}

var fieldNameRE = regexp.MustCompile(`^[!-9;-~]+:`)

// repairHeader returns the header block with every line either a field or
// a continuation: a line without a field name continues the previous field
// (what mail clients make of an unfolded continuation) or, first in the
// header, is dropped. Each repair is a warning.
func (p *parser) repairHeader(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + 8)
	lines := bytes.Split(b, []byte("\n"))
	fields := 0
	for _, l := range lines {
		l = bytes.TrimRight(l, "\r")
		if len(l) == 0 {
			continue
		}
		switch {
		case l[0] == ' ' || l[0] == '\t':
			if fields == 0 {
				continue
			}
		case fieldNameRE.Match(l):
			fields++
		default:
			if fields == 0 {
				p.warn("header line %s without a field name dropped", quote(string(l)))
				continue
			}
			p.warn("header line %s without a field name read as a continuation", quote(string(l)))
			out.WriteByte(' ')
		}
		out.Write(l)
		out.WriteString("\r\n")
	}
	out.WriteString("\r\n")
	return out.Bytes()
}

// meaningful reports a header that has at least one field a mail has.
func meaningful(h textproto.Header) bool {
	for _, k := range []string{"From", "To", "Subject", "Date", "Message-Id", "Content-Type", "Mime-Version", "Received", "Return-Path"} {
		if h.Has(k) {
			return true
		}
	}
	return false
}

// repairParams rewrites Content-Type and Content-Disposition values that
// mime.ParseMediaType rejects into the equivalent quoted form.
func repairParams(h *message.Header) {
	for _, k := range []string{"Content-Type", "Content-Disposition"} {
		v := h.Get(k)
		if v == "" {
			continue
		}
		if _, _, err := mime.ParseMediaType(v); err == nil {
			continue
		}
		if fixed := lenientMediaType(v); fixed != "" {
			h.Set(k, fixed)
		}
	}
}

// lenientMediaType parses "type; k=v; k2=v2" where values may be unquoted
// and contain specials and spaces, and formats it properly ("" if the type
// itself is unusable).
func lenientMediaType(v string) string {
	typ, rest, _ := strings.Cut(v, ";")
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ == "" || strings.ContainsAny(typ, " \t\"") {
		return ""
	}
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t\r\n;")
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		after = strings.TrimLeft(after, " \t")
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				val, rest = after[1:], ""
			} else {
				val, rest = after[1:1+end], after[2+end:]
			}
		} else {
			val, rest, _ = strings.Cut(after, ";")
			val = strings.TrimSpace(val)
		}
		if k != "" && !strings.HasSuffix(k, "*") {
			params[k] = val
		}
	}
	return mime.FormatMediaType(typ, params)
}

func (p *parser) header(h mail.Header) {
	if id, err := h.MessageID(); err == nil && id != "" {
		p.req.MessageID = id
	} else if v := strings.TrimSpace(h.Get("Message-Id")); v != "" {
		// Non-conforming ids still identify the message.
		p.req.MessageID = strings.Trim(v, "<> \t")
	}
	if s, err := h.Subject(); err == nil {
		p.req.Subject = sniffText([]byte(s))
	} else {
		p.req.Subject = sniffText([]byte(h.Get("Subject")))
	}
	if d, err := h.Date(); err == nil {
		p.req.Date = d
	}
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		p.req.From = domain.Customer{Name: from[0].Name, Address: from[0].Address}
	} else if v := h.Get("From"); v != "" {
		if c, ok := looseAddress(sniffText([]byte(v))); ok {
			p.req.From = c
		} else {
			p.warn("From header %s: %v", quote(v), err)
		}
	}
	if rt, err := h.AddressList("Reply-To"); err == nil {
		for _, a := range rt {
			p.req.ReplyTo = append(p.req.ReplyTo, a.Address)
		}
	} else {
		p.warn("Reply-To header: %v", err)
	}
}

var addrRE = regexp.MustCompile(`([A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,})`)

// looseAddress finds "Name <addr>", "Name [mailto:addr]" or a bare address
// in header-like text (forwarded header blocks, broken From headers).
func looseAddress(s string) (domain.Customer, bool) {
	m := addrRE.FindStringSubmatchIndex(s)
	if m == nil {
		return domain.Customer{}, false
	}
	addr := s[m[2]:m[3]]
	name := strings.TrimSpace(s[:m[2]])
	name = strings.TrimRight(name, " <[(\"")
	name = strings.TrimSuffix(name, "mailto:")
	name = strings.Trim(strings.TrimSpace(strings.TrimRight(name, " <[(")), `"' `)
	if strings.EqualFold(name, addr) {
		name = ""
	}
	return domain.Customer{Name: name, Address: strings.ToLower(addr)}, true
}

var errStop = errors.New("stop")

// entity walks one MIME entity and its children.
func (p *parser) entity(h message.Header, body io.Reader, at []int) error {
	p.parts++
	if p.parts > p.opts.MaxParts {
		p.warn("more than %d MIME parts; the rest was not read", p.opts.MaxParts)
		return errStop
	}
	if len(at) > p.opts.MaxDepth {
		p.warn("MIME nesting deeper than %d; the rest was not read", p.opts.MaxDepth)
		return errStop
	}
	repairParams(&h)
	ct, params, err := h.ContentType()
	if err != nil || ct == "" {
		ct, params = "text/plain", map[string]string{}
	}
	if strings.HasPrefix(ct, "multipart/") {
		if params["boundary"] == "" {
			p.warn("part %v: multipart without a boundary read as text", at)
			ct = "text/plain"
		} else {
			mr := textproto.NewMultipartReader(body, params["boundary"])
			for i := 0; ; i++ {
				part, err := mr.NextPart()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					p.warn("part %v: %v", at, err)
					return nil
				}
				if err := p.entity(message.Header{Header: part.Header}, part, append(at[:len(at):len(at)], i)); err != nil {
					return err
				}
			}
		}
	}
	if strings.HasPrefix(ct, "message/") {
		// An attached or bounced message is not the sender's text.
		return nil
	}
	disp, dparams, _ := h.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = decodeWord(name)
	ext := strings.ToLower(path.Ext(name))
	isCSV := ct == "text/csv" || ct == "text/comma-separated-values" || ext == ".csv"
	inline := strings.EqualFold(disp, "inline") || h.Get("Content-Id") != ""
	attached := strings.EqualFold(disp, "attachment") || (name != "" && !strings.HasPrefix(ct, "text/"))
	switch {
	case isCSV:
		if b, ok := p.read(h, body, at); ok {
			p.csvs = append(p.csvs, namedBody{name: name, body: []byte(b)})
		}
	case isXLSX(ct, ext):
		if b, ok := p.readBinary(h, body, at); ok && p.xlsx(name, b) {
			break
		}
		if len(p.req.Attachments) < 16 {
			p.req.Attachments = append(p.req.Attachments, Attachment{Name: clean(name), ContentType: ct})
		}
	case orderDocument(ct, ext) && !(inline && strings.HasPrefix(ct, "image/")):
		if len(p.req.Attachments) < 16 {
			p.req.Attachments = append(p.req.Attachments, Attachment{Name: clean(name), ContentType: ct})
		}
	case attached || strings.EqualFold(disp, "attachment"):
		// Other attachments carry no order lines.
	case ct == "text/plain" && p.plain == nil:
		if b, ok := p.read(h, body, at); ok {
			p.plain = &b
		}
	case ct == "text/html" && p.html == nil:
		if b, ok := p.read(h, body, at); ok {
			p.html = &b
		}
	}
	return nil
}

// orderDocument reports attachments a purchase order comes as that the
// parser does not read: PDF, spreadsheets, word-processor files, images.
func orderDocument(ct, ext string) bool {
	switch ext {
	case ".pdf", ".xls", ".xlsx", ".xlsm", ".ods", ".numbers", ".doc", ".docx", ".odt", ".rtf", ".pages",
		".jpg", ".jpeg", ".png", ".heic", ".heif", ".gif", ".tif", ".tiff", ".webp":
		return true
	}
	switch {
	case ct == "application/pdf", ct == "application/msword", ct == "application/rtf",
		ct == "application/vnd.ms-excel", strings.HasPrefix(ct, "application/vnd.openxmlformats-officedocument."),
		strings.HasPrefix(ct, "application/vnd.oasis.opendocument."), strings.HasPrefix(ct, "image/"):
		return true
	}
	return false
}

// read returns the decoded text of a part (transfer encoding and charset),
// up to MaxTextBytes. A part that fails to decode halfway keeps what was
// decoded.
func (p *parser) read(h message.Header, body io.Reader, at []int) (string, bool) {
	ct, params, _ := h.ContentType()
	cs := params["charset"]
	utf7 := isUTF7(cs)
	if utf7 || cs == "" {
		h = message.Header{Header: h.Header.Copy()}
		delete(params, "charset")
		h.SetContentType(ct, params)
	}
	e, err := message.New(h, body)
	if err != nil && message.IsUnknownCharset(err) {
		p.warn("part %v: %v; read as windows-1252", at, err)
		cs = ""
	} else if err != nil && !message.IsUnknownEncoding(err) {
		p.warn("part %v: %v", at, err)
	}
	if e == nil {
		return "", false
	}
	b, rerr := io.ReadAll(io.LimitReader(e.Body, p.opts.MaxTextBytes+1))
	if int64(len(b)) > p.opts.MaxTextBytes {
		p.warn("part %v: longer than %d bytes, cut", at, p.opts.MaxTextBytes)
		b = b[:p.opts.MaxTextBytes]
	}
	if rerr != nil {
		p.warn("part %v: decode: %v", at, rerr)
	}
	var s string
	switch {
	case utf7:
		s = decodeUTF7(b)
	case cs == "" && ct == "text/html":
		s = sniffHTML(b)
	default:
		// go-message decoded a known charset to UTF-8; bytes that are
		// still not UTF-8 were unlabelled or mislabelled (windows-1252).
		s = sniffText(b)
	}
	return s, len(b) > 0 || rerr == nil
}

// readBinary returns the transfer-decoded bytes of an attachment, up to
// MaxTextBytes (a larger one is not read).
func (p *parser) readBinary(h message.Header, body io.Reader, at []int) ([]byte, bool) {
	e, err := message.New(h, body)
	if err != nil && e == nil {
		p.warn("part %v: %v", at, err)
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(e.Body, p.opts.MaxTextBytes+1))
	if err != nil {
		p.warn("part %v: decode: %v", at, err)
		return nil, false
	}
	if int64(len(b)) > p.opts.MaxTextBytes {
		p.warn("part %v: attachment longer than %d bytes, not read", at, p.opts.MaxTextBytes)
		return nil, false
	}
	return b, true
}

var wordDecoder = mime.WordDecoder{CharsetReader: message.CharsetReader}

func decodeWord(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}
