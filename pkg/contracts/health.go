package contracts

import (
	"context"
	"fmt"
	"time"
)

// HealthState orders from best to worst: Up < Degraded < Down.
type HealthState int

// Health states. A degraded component still works (e.g. it is reconnecting);
// a down one does not.
const (
	HealthUp HealthState = iota
	HealthDegraded
	HealthDown
)

func (s HealthState) String() string {
	switch s {
	case HealthUp:
		return "up"
	case HealthDegraded:
		return "degraded"
	default:
		return "down"
	}
}

// MarshalText makes states readable in JSON.
func (s HealthState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "up", "degraded" or "down".
func (s *HealthState) UnmarshalText(b []byte) error {
	switch string(b) {
	case "up":
		*s = HealthUp
	case "degraded":
		*s = HealthDegraded
	case "down":
		*s = HealthDown
	default:
		return fmt.Errorf("contracts: unknown health state %q", b)
	}
	return nil
}

// Health is one component's health. Details must never hold secrets.
type Health struct {
	State   HealthState       `json:"state"`
	Message string            `json:"message,omitempty"`
	Details map[string]string `json:"details,omitempty"`
	Checked time.Time         `json:"checked,omitzero"`
}

// Up, Degraded and Down build a Health with a message.
func Up(msg string) Health       { return Health{State: HealthUp, Message: msg} }
func Degraded(msg string) Health { return Health{State: HealthDegraded, Message: msg} }
func Down(msg string) Health     { return Health{State: HealthDown, Message: msg} }

// HealthContributor adds a component's health to the runtime's view. Health
// must be quick (it is called on every status request) and must honour ctx.
type HealthContributor interface {
	Name() string
	Health(ctx context.Context) Health
}

// HealthFunc adapts a function to a named [HealthContributor].
func HealthFunc(name string, f func(ctx context.Context) Health) HealthContributor {
	return healthFunc{name: name, f: f}
}

type healthFunc struct {
	name string
	f    func(ctx context.Context) Health
}

func (h healthFunc) Name() string                      { return h.name }
func (h healthFunc) Health(ctx context.Context) Health { return h.f(ctx) }
