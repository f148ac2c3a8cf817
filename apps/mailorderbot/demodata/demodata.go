// Package demodata ships sample order e-mails for the demo mode and for
// end-to-end tests: a fixed set of ten messages (embedded .eml files) and a
// generator of endless varied ones.
//
// Every sample is priced against the embedded demo catalog
// (catalog.Demo), and each knows the outcome the bot must reach, so tests
// can check every stored order.
package demodata

import (
	"bytes"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"path"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

//go:embed mail/*.eml
var files embed.FS

// Sample is one demo e-mail and the outcome the bot must reach for it.
type Sample struct {
	// Name is the file name (fixed samples) or "generated-N".
	Name string
	Raw  []byte
	// MessageID is the Message-ID without angle brackets.
	MessageID string
	Want      domain.Status
}

// wants maps the fixed samples to their outcomes.
var wants = map[string]domain.Status{
	"01_valid.eml":           domain.StatusAccepted,
	"02_unknown_sku.eml":     domain.StatusRejected,
	"03_bad_quantity.eml":    domain.StatusRejected,
	"04_not_an_order.eml":    domain.StatusIgnored,
	"05_windows1251.eml":     domain.StatusAccepted,
	"06_koi8r.eml":           domain.StatusAccepted,
	"07_html_table.eml":      domain.StatusAccepted,
	"08_csv_attachment.eml":  domain.StatusAccepted,
	"09_reply_quoted.eml":    domain.StatusAccepted,
	"10_reply_to_latin1.eml": domain.StatusAccepted,
}

// Samples returns the fixed samples in file-name order. Their Message-IDs
// are demo-01@demo.plba.local to demo-10@demo.plba.local.
func Samples() []Sample {
	entries, err := fs.ReadDir(files, "mail")
	if err != nil {
		panic("demodata: embedded files: " + err.Error()) // embedded at build time
	}
	out := make([]Sample, 0, len(entries))
	for _, e := range entries {
		raw, err := files.ReadFile(path.Join("mail", e.Name()))
		if err != nil {
			panic("demodata: embedded files: " + err.Error())
		}
		// Files are named NN_*.eml and carry Message-ID demo-NN@demo.plba.local.
		out = append(out, Sample{Name: e.Name(), Raw: raw, Want: wants[e.Name()],
			MessageID: "demo-" + e.Name()[:2] + "@demo.plba.local"})
	}
	return out
}

// Messages returns the raw fixed samples.
func Messages() [][]byte {
	s := Samples()
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = s[i].Raw
	}
	return out
}

// Generate returns the raw generated message number n; see GenerateSample.
func Generate(n int, rnd *rand.Rand) []byte { return GenerateSample(n, rnd).Raw }

var customers = []struct{ name, addr string }{
	{"Alice Baker", "alice@example.com"}, {"Bob Carter", "bob@example.org"}, {"Carol Diaz", "carol@example.net"},
	{"Erin Fox", "erin@example.com"}, {"Frank Green", "frank@example.de"}, {"Иван Петров", "ivan@example.ru"},
	{"José García", "jose@example.es"}, {"Mei Tanaka", "mei@example.jp"},
}

var skus = []string{"ABC-123", "ABC-124", "XYZ-9000", "TEA-001", "TEA-002", "MUG-110", "PEN-2001", "INK-2002", "BOX-450", "NOTE-777"}

// GenerateSample makes a new, varied order e-mail. n makes the Message-ID
// unique (gen-N-XXXX@demo.plba.local); rnd chooses everything else, so the
// same n and seed give the same message. About 70% are valid orders, the
// rest unknown SKUs, bad quantities or no order at all; formats vary between
// plain text (all line forms), HTML tables, CSV attachments, windows-1251
// and quoted replies.
func GenerateSample(n int, rnd *rand.Rand) Sample {
	c := customers[rnd.IntN(len(customers))]
	id := fmt.Sprintf("gen-%d-%04x@demo.plba.local", n, rnd.IntN(1<<16))
	kind := rnd.IntN(100)
	want := domain.StatusAccepted
	type line struct {
		sku string
		qty string
	}
	var lines []line
	for range 1 + rnd.IntN(4) {
		lines = append(lines, line{skus[rnd.IntN(len(skus))], fmt.Sprint(1 + rnd.IntN(9))})
	}
	switch {
	case kind < 10:
		lines[rnd.IntN(len(lines))].sku = fmt.Sprintf("QQ-%03d", rnd.IntN(1000)) // not in the catalog
		want = domain.StatusRejected
	case kind < 20:
		lines[rnd.IntN(len(lines))].qty = []string{"0", "two", "-3", "1.5"}[rnd.IntN(4)]
		want = domain.StatusRejected
	case kind < 30:
		lines = nil
		want = domain.StatusIgnored
	}
	var h strings.Builder
	fmt.Fprintf(&h, "From: %s <%s>\r\n", mime.QEncoding.Encode("utf-8", c.name), c.addr)
	fmt.Fprintf(&h, "To: orders@demo.plba.local\r\nSubject: Order %d\r\n", n)
	fmt.Fprintf(&h, "Date: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n",
		time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Add(time.Duration(n)*time.Minute).Format(time.RFC1123Z), id)

	var body strings.Builder
	body.WriteString("Hello,\r\n\r\n")
	if lines == nil {
		body.WriteString("could you send me your price list? Thank you.\r\n")
	}
	format := rnd.IntN(10)
	forms := []string{"%[1]s x %[2]s", "%[2]s x %[1]s", "%[1]s × %[2]s", "%[2]s * %[1]s", "%[2]s pcs %[1]s", "- %[1]s x %[2]s"}
	textLines := func() {
		for _, l := range lines {
			form := forms[rnd.IntN(len(forms))]
			if !isDigits(l.qty) {
				form = forms[0] // SKU first, so a bad quantity is still recognised
			}
			fmt.Fprintf(&body, form+"\r\n", l.sku, l.qty)
		}
		if rnd.IntN(3) == 0 {
			fmt.Fprintf(&body, "\r\nShip to:\r\n%s\r\n%d Demo Street\r\n\r\n", c.name, 1+rnd.IntN(99))
		}
		if rnd.IntN(4) == 0 {
			body.WriteString("Note: please hurry\r\n")
		}
	}
	var msg bytes.Buffer
	msg.WriteString(h.String())
	switch {
	case format < 5 || lines == nil: // plain UTF-8, sometimes with a quoted older order
		textLines()
		if format == 4 {
			body.WriteString("\r\nOn Sun, 1 Mar 2026 at 10:00, Mail Order Bot <orders@demo.plba.local> wrote:\r\n> ABC-123 x 99\r\n")
		}
		msg.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		writeQP(&msg, body.String())
	case format == 5: // windows-1251, base64
		body.Reset()
		body.WriteString("Здравствуйте!\r\n\r\n")
		textLines()
		cs := "windows-1251"
		enc, err := charmap.Windows1251.NewEncoder().String(strings.ReplaceAll(body.String(), "×", "x"))
		if err != nil {
			// A name windows-1251 cannot spell: the text stays UTF-8 and
			// must say so (mislabelled mail garbles lines, which is review).
			enc, cs = body.String(), "utf-8"
		}
		msg.WriteString("Content-Type: text/plain; charset=" + cs + "\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		writeB64(&msg, []byte(enc))
	case format < 8: // HTML table in multipart/alternative
		var t strings.Builder
		t.WriteString("<p>Our order:</p><table><tr><th>SKU</th><th>Qty</th></tr>")
		for _, l := range lines {
			fmt.Fprintf(&t, "<tr><td>%s</td><td>%s</td></tr>", l.sku, l.qty)
		}
		t.WriteString("</table>")
		msg.WriteString("Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\nOur order is in the HTML part.\r\n--alt\r\n" +
			"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		writeQP(&msg, t.String())
		msg.WriteString("\r\n--alt--\r\n")
	default: // CSV attachment
		var csv strings.Builder
		sep := []string{",", ";"}[rnd.IntN(2)]
		csv.WriteString("sku" + sep + "qty\r\n")
		for _, l := range lines {
			csv.WriteString(l.sku + sep + l.qty + "\r\n")
		}
		msg.WriteString("Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\nThe order is attached.\r\n--mix\r\n" +
			"Content-Type: text/csv; name=\"order.csv\"\r\nContent-Disposition: attachment; filename=\"order.csv\"\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n")
		writeB64(&msg, []byte(csv.String()))
		msg.WriteString("--mix--\r\n")
	}
	return Sample{Name: fmt.Sprintf("generated-%d", n), Raw: msg.Bytes(), MessageID: id, Want: want}
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func writeQP(b *bytes.Buffer, s string) {
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	b.WriteString("\r\n")
}

func writeB64(b *bytes.Buffer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
}
