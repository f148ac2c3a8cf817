package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/plba/plba/pkg/contracts"
)

// ErrInvalid is matched (errors.Is) by every *[Error]: the configuration is
// wrong and a person has to fix it. The CLI exits with code 2 on it.
var ErrInvalid = errors.New("config: invalid configuration")

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Path is the key path, e.g. "apps.mailorderbot.workers" ("" for a
	// file that cannot be parsed).
	Path string
	// Source is where the value came from: "file.yaml:12",
	// "env PLBA_APPS__X__Y", "flag --set a.b", a provider's name,
	// "default", or "" when the key is not set at all.
	Source string
	// Rule is the broken rule: a validate tag ("min=1", "required"),
	// "type" (cannot decode), "unknown" (no such key), "yaml", "file",
	// "secret-ref" or "validate" (a Validate method).
	Rule string
	// Message says what is wrong in words. It never holds a secret value.
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Path)
	if p.Source != "" {
		if p.Path != "" {
			b.WriteString(" ")
		}
		b.WriteString("(from " + p.Source + ")")
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every problem found in one load; errors.Is(err, ErrInvalid)
// holds for it.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// under keeps the problems at or below path.
func (e *Error) under(path string) *Error {
	out := &Error{}
	for _, p := range e.Problems {
		if path == "" || p.Path == path || strings.HasPrefix(p.Path, path+".") || strings.HasPrefix(p.Path, path+"[") {
			out.Problems = append(out.Problems, p)
		}
	}
	return out
}

func asError(err error, e **Error) bool { return errors.As(err, e) }

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		return ps[i].Rule < ps[j].Rule
	})
}

// scrub replaces every secret value that made it into a message (a
// library error quoting its input) by the redaction marker.
func (st *state) scrub(e *Error) *Error {
	var secrets []string
	for key := range st.secret {
		if v, ok := st.flat[key]; ok {
			if s := fmt.Sprint(v); len(s) >= 3 {
				secrets = append(secrets, s)
			}
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for i := range e.Problems {
		for _, s := range secrets {
			e.Problems[i].Message = strings.ReplaceAll(e.Problems[i].Message, s, contracts.Redacted)
		}
	}
	return e
}
