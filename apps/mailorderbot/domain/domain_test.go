package domain_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

func TestMoney(t *testing.T) {
	eur := func(a int64) domain.Money { return domain.Money{Amount: a, Currency: "EUR"} }
	sum, err := domain.Money{}.Add(eur(1250))
	if err != nil || sum != eur(1250) {
		t.Fatalf("zero + 12.50 = %v, %v", sum, err)
	}
	if _, err := eur(1).Add(domain.Money{Amount: 1, Currency: "USD"}); !errors.Is(err, domain.ErrCurrencyMismatch) {
		t.Fatalf("EUR+USD: %v", err)
	}
	if _, err := eur(math.MaxInt64).Add(eur(1)); !errors.Is(err, domain.ErrOverflow) {
		t.Fatalf("overflow add: %v", err)
	}
	if _, err := eur(math.MaxInt64 / 2).Times(3); !errors.Is(err, domain.ErrOverflow) {
		t.Fatalf("overflow times: %v", err)
	}
	if p, _ := eur(899).Times(3); p != eur(2697) {
		t.Fatalf("8.99*3 = %v", p)
	}
	for m, want := range map[domain.Money]string{eur(5): "0.05 EUR", eur(-1250): "-12.50 EUR", eur(math.MinInt64): "-92233720368547758.08 EUR"} {
		if m.String() != want {
			t.Errorf("%d: %q, want %q", m.Amount, m.String(), want)
		}
	}
}

func TestStatus(t *testing.T) {
	if s, err := domain.ParseStatus(" Accepted "); err != nil || s != domain.StatusAccepted {
		t.Fatalf("ParseStatus = %v, %v", s, err)
	}
	if _, err := domain.ParseStatus("maybe"); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func ExampleMoney_Times() {
	price := domain.Money{Amount: 1250, Currency: "EUR"}
	total, _ := price.Times(3)
	fmt.Println(total)
	// Output: 37.50 EUR
}
