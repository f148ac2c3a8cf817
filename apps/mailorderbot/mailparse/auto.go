package mailparse

import (
	"strings"

	"github.com/emersion/go-message/textproto"
)

// automatic returns why a message is automatic mail — an auto-reply, a
// bounce, a read receipt, list or bulk mail — or "". Such mail is never
// answered (RFC 3834) and never an order, whatever lines it quotes.
func automatic(h textproto.Header, contentType string) string {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		return "automatic mail (Auto-Submitted: " + clean(v) + ")"
	}
	switch v := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); v {
	case "bulk", "list", "junk", "auto_reply":
		return "automatic mail (Precedence: " + v + ")"
	}
	if h.Has("List-Id") {
		return "mailing-list mail (List-Id header)"
	}
	if h.Has("X-Autoreply") || h.Has("X-Autorespond") {
		return "automatic mail (X-Autoreply header)"
	}
	if strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		return "null sender (Return-Path: <>)"
	}
	for _, k := range []string{"From", "Sender"} {
		if v := strings.ToLower(h.Get(k)); strings.Contains(v, "mailer-daemon@") || strings.HasPrefix(strings.TrimSpace(v), "mailer-daemon") {
			return "bounce (MAILER-DAEMON sender)"
		}
	}
	if contentType == "multipart/report" {
		return "delivery or read report (multipart/report)"
	}
	return ""
}
