package catalog_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plba/plba/apps/mailorderbot/catalog"
)

func TestDemo(t *testing.T) {
	c := catalog.Demo()
	if c.Len() != 10 {
		t.Fatalf("demo catalog has %d items, want 10", c.Len())
	}
	it, ok := c.Lookup("abc-123")
	if !ok || it.UnitPrice.Amount != 1250 || it.UnitPrice.Currency != "EUR" || it.Name != "Blue widget" {
		t.Fatalf("Lookup(abc-123) = %+v, %v", it, ok)
	}
}

func TestLoadCSVAndYAML(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "c.csv")
	yamlPath := filepath.Join(dir, "c.yaml")
	os.WriteFile(csvPath, []byte("currency;ignored\n"), 0o600)
	if _, err := catalog.Load(csvPath); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("bad header: err = %v, want ErrInvalid", err)
	}
	os.WriteFile(csvPath, []byte("name,sku,price,currency\nThing,ab-001,5,usd\n"), 0o600)
	c, err := catalog.Load(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := c.Lookup("AB-001"); !ok || it.UnitPrice.Amount != 5 || it.UnitPrice.Currency != "USD" {
		t.Fatalf("csv item = %+v %v", it, ok)
	}
	os.WriteFile(yamlPath, []byte("- {sku: zz-999, name: Z, unit_price: 100, currency: GBP}\n"), 0o600)
	c, err = catalog.Load(yamlPath)
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := c.Lookup("ZZ-999"); !ok || it.UnitPrice.Amount != 100 {
		t.Fatalf("yaml item = %+v %v", it, ok)
	}
}

func TestInvalid(t *testing.T) {
	for _, in := range []string{
		"sku,name,unit_price,currency\nABC123,x,1,EUR\n",
		"sku,name,unit_price,currency\nABC-123,x,1.5,EUR\n",
		"sku,name,unit_price,currency\nABC-123,x,-1,EUR\n",
		"sku,name,unit_price,currency\nABC-123,x,1,EURO\n",
		"sku,name,unit_price,currency\nABC-123,x,1,EUR\nabc-123,y,2,EUR\n",
	} {
		if _, err := catalog.ParseCSV(strings.NewReader(in)); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("ParseCSV(%q) err = %v, want ErrInvalid", in, err)
		}
	}
	if _, err := catalog.ParseYAML(strings.NewReader("- {sku: AB-001, name: x, currency: EUR}\n")); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("yaml without price: err = %v", err)
	}
}

func ExampleParseCSV() {
	c, err := catalog.ParseCSV(strings.NewReader("sku,name,unit_price,currency\nabc-123,Blue widget,1250,EUR\n"))
	if err != nil {
		panic(err)
	}
	it, _ := c.Lookup("ABC-123")
	fmt.Println(it.SKU, it.Name, it.UnitPrice)
	// Output: ABC-123 Blue widget 12.50 EUR
}
