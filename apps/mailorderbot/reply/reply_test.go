package reply_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/apps/mailorderbot/store/storetest"
	"github.com/plba/plba/pkg/contracts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func accepted() domain.Order {
	o := storetest.Order("orig-1@example.com", domain.StatusAccepted, 1)
	o.Customer = domain.Customer{Name: "Иван Петров", Address: "ivan@example.ru"}
	o.ReplyTo = nil
	return o
}

func TestComposeAccepted(t *testing.T) {
	r, err := reply.Compose(accepted(), "Shop Orders <orders@shop.example>", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.From != "orders@shop.example" || len(r.To) != 1 || r.To[0] != "ivan@example.ru" || r.Key != "orig-1@example.com" {
		t.Fatalf("envelope = %+v", r)
	}
	mr, err := mail.CreateReader(bytes.NewReader(r.Raw))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := mr.Header.Subject()
	to, _ := mr.Header.AddressList("To")
	irt, _ := mr.Header.MsgIDList("In-Reply-To")
	if subj != "Order confirmed: Order orig-1@example.com" || len(to) != 1 || to[0].Name != "Иван Петров" ||
		len(irt) != 1 || irt[0] != "orig-1@example.com" || mr.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Fatalf("header: subject %q to %v in-reply-to %v", subj, to, irt)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(p.Body)
	for _, want := range []string{"ABC-123", "Blue widget", "25.00 EUR", "1 Main St", "ring twice", "Hello Иван Петров"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	again, _ := reply.Compose(accepted(), "Shop Orders <orders@shop.example>", now)
	if !bytes.Equal(again.Raw, r.Raw) {
		t.Error("composing the same order twice must give the same message")
	}
}

func TestComposeRejectedAndIgnored(t *testing.T) {
	o := storetest.Order("rej@example.com", domain.StatusRejected, 1)
	r, err := reply.Compose(o, "orders@shop.example", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.To[0] != "buy@example.com" {
		t.Fatalf("reply must go to Reply-To: %v", r.To)
	}
	if !strings.Contains(reply.Body(o), `unknown SKU "ZZZ-999"`) {
		t.Fatalf("rejection body lacks the reason: %s", reply.Body(o))
	}
	if r, err := reply.Compose(storetest.Order("ign", domain.StatusIgnored, 1), "orders@shop.example", now); r != nil || err != nil {
		t.Fatalf("ignored order: %v, %v; want no reply", r, err)
	}
	nobody := o
	nobody.ReplyTo, nobody.Customer = nil, domain.Customer{}
	if r, err := reply.Compose(nobody, "orders@shop.example", now); r != nil || err != nil {
		t.Fatalf("no recipient: %v, %v; want no reply", r, err)
	}
	if _, err := reply.Compose(o, "not an address", now); err == nil {
		t.Fatal("bad from address accepted")
	}
}

// smtpServer is a real go-smtp server on loopback that records deliveries.
type smtpServer struct {
	mu       sync.Mutex
	got      []delivery
	rejectTo string
	addr     string
	// bearer, when set, offers XOAUTH2 and OAUTHBEARER and decides
	// whether a token is valid for a user (oauth_test.go).
	bearer func(user, token string) bool
}

type delivery struct {
	from string
	to   []string
	data []byte
}

type session struct {
	s    *smtpServer
	d    delivery
	auth bool
}

func (s *session) AuthMechanisms() []string {
	if s.s.bearer != nil {
		return []string{sasl.Plain, "XOAUTH2", sasl.OAuthBearer}
	}
	return []string{sasl.Plain}
}
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.s.bearer != nil && mech != sasl.Plain {
		return bearerServer(s, mech), nil
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "bot" || pass != "s3cret-pw" {
			return errors.New("invalid credentials")
		}
		s.auth = true
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return &smtp.SMTPError{Code: 530, Message: "auth required"}
	}
	s.d.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.s.rejectTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.d.to = append(s.d.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.d.data = b
	s.s.mu.Lock()
	s.s.got = append(s.s.got, s.d)
	s.s.mu.Unlock()
	return nil
}
func (s *session) Reset()        { s.d = delivery{} }
func (s *session) Logout() error { return nil }

func startSMTP(t *testing.T, tlsCfg *tls.Config) *smtpServer {
	t.Helper()
	srv := &smtpServer{}
	ss := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: srv}, nil }))
	ss.Domain = "localhost"
	ss.AllowInsecureAuth = tlsCfg == nil
	ss.TLSConfig = tlsCfg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = ss.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ss.Shutdown(ctx)
		<-done
	})
	return srv
}

func (s *smtpServer) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.got...)
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: now.Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestSMTPSendPlainAuth(t *testing.T) {
	srv := startSMTP(t, nil)
	s, err := reply.NewSMTPSender(reply.SMTPConfig{Addr: srv.addr, TLS: reply.TLSNone, Username: "bot", Password: "s3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := reply.Compose(accepted(), "orders@shop.example", now)
	if err := s.Send(context.Background(), *r); err != nil {
		t.Fatal(err)
	}
	got := srv.deliveries()
	if len(got) != 1 || got[0].from != "orders@shop.example" || got[0].to[0] != "ivan@example.ru" ||
		!bytes.Equal(bytes.ReplaceAll(got[0].data, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(r.Raw, []byte("\r\n"), []byte("\n"))) {
		t.Fatalf("deliveries = %+v", got)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	serverTLS, pool := selfSigned(t)
	srv := startSMTP(t, serverTLS)
	s, err := reply.NewSMTPSender(reply.SMTPConfig{Addr: srv.addr, TLS: reply.TLSStartTLS, Username: "bot", Password: "s3cret-pw",
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := reply.Compose(accepted(), "orders@shop.example", now)
	if err := s.Send(context.Background(), *r); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.deliveries()); n != 1 {
		t.Fatalf("%d deliveries over STARTTLS, want 1", n)
	}
}

func TestSMTPErrors(t *testing.T) {
	srv := startSMTP(t, nil)
	r, _ := reply.Compose(accepted(), "orders@shop.example", now)
	bad, _ := reply.NewSMTPSender(reply.SMTPConfig{Addr: srv.addr, TLS: reply.TLSNone, Username: "bot", Password: "wrong-pw-123"})
	err := bad.Send(context.Background(), *r)
	if err == nil || strings.Contains(err.Error(), "wrong-pw-123") {
		t.Fatalf("bad password: err = %v (must fail and never show the password)", err)
	}
	if s := fmt.Sprintf("%+v", bad); strings.Contains(s, "wrong-pw-123") {
		t.Fatalf("sender prints its password: %s", s)
	}
	srv.rejectTo = "ivan@example.ru"
	good, _ := reply.NewSMTPSender(reply.SMTPConfig{Addr: srv.addr, TLS: reply.TLSNone, Username: "bot", Password: contracts.Secret("s3cret-pw")})
	if err := good.Send(context.Background(), *r); !errors.Is(err, reply.ErrRejected) {
		t.Fatalf("550 recipient: err = %v, want ErrRejected", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	down, _ := reply.NewSMTPSender(reply.SMTPConfig{Addr: closed, TLS: reply.TLSNone})
	if err := down.Send(context.Background(), *r); err == nil || errors.Is(err, reply.ErrRejected) {
		t.Fatalf("server down: err = %v, want a transient error", err)
	}
	if _, err := reply.NewSMTPSender(reply.SMTPConfig{Addr: "x:25", TLS: "ssl"}); err == nil {
		t.Fatal("unknown TLS mode accepted")
	}
}

func TestFlush(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "o.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := startSMTP(t, nil)
	srv.rejectTo = "bounce@example.com"
	for i, to := range []string{"a@example.com", "bounce@example.com", "b@example.com"} {
		o := storetest.Order(fmt.Sprintf("flush-%d", i), domain.StatusAccepted, i)
		o.ReplyTo = []string{to}
		r, _ := reply.Compose(o, "orders@shop.example", now)
		if _, err := st.Save(ctx, o, r); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := reply.NewSMTPSender(reply.SMTPConfig{Addr: srv.addr, TLS: reply.TLSNone, Username: "bot", Password: "s3cret-pw"})
	sent, err := reply.Flush(ctx, st, s, 0)
	if sent != 2 || !errors.Is(err, reply.ErrRejected) {
		t.Fatalf("Flush = %d, %v; want 2 sent and the rejection reported", sent, err)
	}
	pending, _ := st.PendingReplies(ctx, 0)
	if len(pending) != 1 || pending[0].Key != "flush-1" {
		t.Fatalf("pending after flush = %+v; want only the refused one", pending)
	}
	if n := len(srv.deliveries()); n != 2 {
		t.Fatalf("server got %d messages, want 2", n)
	}
}

func ExampleCompose() {
	order := domain.Order{
		Key: "42@example.com", Status: domain.StatusRejected, Subject: "Order",
		Customer: domain.Customer{Name: "Alice", Address: "alice@example.com"},
		Reasons:  []string{`unknown SKU "ZZZ-999"`},
	}
	r, err := reply.Compose(order, "orders@shop.example", time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	fmt.Println(r.From, r.To)
	fmt.Print(reply.Body(order))
	// Output:
	// orders@shop.example [alice@example.com]
	// Hello Alice,
	//
	// we could not accept your order:
	//
	//   - unknown SKU "ZZZ-999"
	//
	// Please send a corrected order. Order lines look like "ABC-123 x 2".
	//
	// Reference: 42@example.com
}

// A reply another sender sent after this one listed it (the outbox flush
// reads pending replies while routines send them) is skipped as claimed:
// Deliver says store.ErrAttempted, sends nothing, and the flush goes on
// with the rest instead of ending with an error.
func TestDeliverSentMeanwhileIsClaimed(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "o.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := storetest.Order("meanwhile", domain.StatusAccepted, 1)
	o.ReplyTo = []string{"a@example.com"}
	r, _ := reply.Compose(o, "orders@shop.example", now)
	if _, err := st.Save(ctx, o, r); err != nil {
		t.Fatal(err)
	}
	// The other sender: claimed and sent.
	if err := st.MarkAttempt(ctx, r.Key, now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkSent(ctx, r.Key, now); err != nil {
		t.Fatal(err)
	}
	srv := startSMTP(t, nil)
	s, _ := reply.NewSMTPSender(reply.SMTPConfig{Addr: srv.addr, TLS: reply.TLSNone, Username: "bot", Password: "s3cret-pw"})
	if err := reply.Deliver(ctx, st, s, *r, now); !errors.Is(err, store.ErrAttempted) {
		t.Fatalf("Deliver of a reply sent meanwhile = %v, want store.ErrAttempted", err)
	}
	if n := len(srv.deliveries()); n != 0 {
		t.Fatalf("server got %d messages, want 0", n)
	}
}
