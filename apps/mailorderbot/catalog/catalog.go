// Package catalog loads the product catalog that prices order lines: SKU,
// name, unit price in minor units and currency, from a CSV or YAML file.
//
// # Formats
//
// CSV needs a header row naming the columns sku, name, unit_price (or price)
// and currency, in any order:
//
//	sku,name,unit_price,currency
//	ABC-123,Blue widget,1250,EUR
//
// YAML is a list of items:
//
//   - {sku: ABC-123, name: Blue widget, unit_price: 1250, currency: EUR}
//
// SKUs are matched case-insensitively (stored upper-case). A demo catalog is
// embedded for demo mode and tests; see [Demo].
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

//go:embed demo.csv
var demoCSV []byte

// Item is one catalog entry.
type Item struct {
	SKU       string       `yaml:"sku"`
	Name      string       `yaml:"name"`
	UnitPrice domain.Money `yaml:"-"`
}

// Catalog is an immutable set of items, safe for concurrent use.
type Catalog struct {
	items map[string]Item
}

// ErrInvalid is wrapped by every load error caused by the file's content.
var ErrInvalid = errors.New("catalog: invalid")

var (
	skuRE      = regexp.MustCompile(`^[A-Za-z]{2,5}-[0-9]{3,6}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// New builds a catalog from items, validating SKUs, prices and currencies.
func New(items []Item) (*Catalog, error) {
	c := &Catalog{items: make(map[string]Item, len(items))}
	for i, it := range items {
		it.SKU = strings.ToUpper(strings.TrimSpace(it.SKU))
		it.UnitPrice.Currency = strings.ToUpper(strings.TrimSpace(it.UnitPrice.Currency))
		switch {
		case !skuRE.MatchString(it.SKU):
			return nil, fmt.Errorf("%w: item %d: sku %q does not match [A-Za-z]{2,5}-[0-9]{3,6}", ErrInvalid, i+1, it.SKU)
		case it.UnitPrice.Amount < 0:
			return nil, fmt.Errorf("%w: item %d (%s): negative price", ErrInvalid, i+1, it.SKU)
		case !currencyRE.MatchString(it.UnitPrice.Currency):
			return nil, fmt.Errorf("%w: item %d (%s): currency %q is not a 3-letter code", ErrInvalid, i+1, it.SKU, it.UnitPrice.Currency)
		}
		if _, dup := c.items[it.SKU]; dup {
			return nil, fmt.Errorf("%w: item %d: duplicate sku %s", ErrInvalid, i+1, it.SKU)
		}
		c.items[it.SKU] = it
	}
	return c, nil
}

// Lookup finds an item by SKU (any case).
func (c *Catalog) Lookup(sku string) (Item, bool) {
	it, ok := c.items[strings.ToUpper(sku)]
	return it, ok
}

// Len is the number of items.
func (c *Catalog) Len() int { return len(c.items) }

// Items returns all items sorted by SKU.
func (c *Catalog) Items() []Item {
	out := make([]Item, 0, len(c.items))
	for _, it := range c.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.SKU, b.SKU) })
	return out
}

// Demo returns the embedded demo catalog.
func Demo() *Catalog {
	c, err := ParseCSV(bytes.NewReader(demoCSV))
	if err != nil {
		// The file is embedded and covered by tests.
		panic("catalog: embedded demo catalog: " + err.Error())
	}
	return c
}

// Load reads a catalog file; ".yaml"/".yml" files are YAML, anything else CSV.
// An empty path yields the demo catalog.
func Load(path string) (*Catalog, error) {
	if path == "" {
		return Demo(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	defer f.Close()
	var c *Catalog
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		c, err = ParseYAML(f)
	default:
		c, err = ParseCSV(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCSV reads a CSV catalog with a header row.
func ParseCSV(r io.Reader) (*Catalog, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: csv header: %v", ErrInvalid, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if h == "price" {
			h = "unit_price"
		}
		col[h] = i
	}
	for _, need := range []string{"sku", "name", "unit_price", "currency"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%w: csv header lacks column %q (have %v)", ErrInvalid, need, header)
		}
	}
	var items []Item
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: csv: %v", ErrInvalid, err)
		}
		get := func(k string) string {
			if i := col[k]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if get("sku") == "" && len(rec) <= 1 {
			continue // blank line
		}
		line, _ := cr.FieldPos(0)
		price, err := strconv.ParseInt(get("unit_price"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: csv line %d: unit_price %q is not an integer of minor units", ErrInvalid, line, get("unit_price"))
		}
		items = append(items, Item{SKU: get("sku"), Name: get("name"), UnitPrice: domain.Money{Amount: price, Currency: get("currency")}})
	}
	return New(items)
}

// ParseYAML reads a YAML catalog (a list of items).
func ParseYAML(r io.Reader) (*Catalog, error) {
	var raw []struct {
		SKU       string `yaml:"sku"`
		Name      string `yaml:"name"`
		UnitPrice *int64 `yaml:"unit_price"`
		Price     *int64 `yaml:"price"`
		Currency  string `yaml:"currency"`
	}
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: yaml: %v", ErrInvalid, err)
	}
	items := make([]Item, 0, len(raw))
	for i, r := range raw {
		p := r.UnitPrice
		if p == nil {
			p = r.Price
		}
		if p == nil {
			return nil, fmt.Errorf("%w: yaml item %d (%s): unit_price missing", ErrInvalid, i+1, r.SKU)
		}
		items = append(items, Item{SKU: r.SKU, Name: r.Name, UnitPrice: domain.Money{Amount: *p, Currency: r.Currency}})
	}
	return New(items)
}
