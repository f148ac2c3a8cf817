package emf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Units CloudWatch accepts in a MetricDefinition.
var Units = []string{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None",
}

// Metric is one metric of a parsed document.
type Metric struct {
	Name   string
	Unit   string
	Values []float64
}

// Document is a parsed, valid EMF document.
type Document struct {
	Namespace  string
	Timestamp  int64
	Dimensions [][]string
	// Values of the dimensions (every dimension named in Dimensions).
	DimensionValues map[string]string
	Metrics         []Metric
}

// ErrInvalid is matched by every error of Parse.
var ErrInvalid = errors.New("emf: invalid document")

// Parse checks one line against the EMF specification (what CloudWatch
// Logs needs to extract metrics from it) and returns what it holds. Tests
// use it on the functions' output; it is the specification's checklist in
// code.
func Parse(line []byte) (Document, error) {
	var d Document
	bad := func(format string, args ...any) (Document, error) {
		return Document{}, fmt.Errorf("%w: %s: %s", ErrInvalid, fmt.Sprintf(format, args...), line)
	}
	var root map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return bad("not a JSON object: %v", err)
	}
	if dec.More() {
		return bad("data after the JSON object")
	}
	rawMeta, ok := root["_aws"]
	if !ok {
		return bad("no _aws member")
	}
	var meta struct {
		Timestamp         *json.Number `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  *string           `json:"Namespace"`
			Dimensions *[][]string       `json:"Dimensions"`
			Metrics    []json.RawMessage `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(rawMeta, &meta); err != nil {
		return bad("_aws: %v", err)
	}
	if meta.Timestamp == nil {
		return bad("_aws.Timestamp missing")
	}
	ts, err := meta.Timestamp.Int64()
	if err != nil || ts <= 0 {
		return bad("_aws.Timestamp %q is not epoch milliseconds", meta.Timestamp.String())
	}
	d.Timestamp = ts
	if len(meta.CloudWatchMetrics) != 1 {
		return bad("want one MetricDirective, have %d", len(meta.CloudWatchMetrics))
	}
	dir := meta.CloudWatchMetrics[0]
	if dir.Namespace == nil || *dir.Namespace == "" || len(*dir.Namespace) > 255 {
		return bad("Namespace missing or longer than 255")
	}
	d.Namespace = *dir.Namespace
	if dir.Dimensions == nil {
		return bad("Dimensions missing")
	}
	d.Dimensions = *dir.Dimensions
	d.DimensionValues = map[string]string{}
	for _, set := range d.Dimensions {
		if len(set) > MaxDimensions {
			return bad("a dimension set has %d dimensions, more than %d", len(set), MaxDimensions)
		}
		for _, name := range set {
			raw, ok := root[name]
			if !ok {
				return bad("dimension %q is not a member of the root", name)
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return bad("dimension %q is not a string", name)
			}
			if v == "" || len(v) > 1024 {
				return bad("dimension %q value empty or longer than 1024", name)
			}
			d.DimensionValues[name] = v
		}
	}
	if len(dir.Metrics) == 0 || len(dir.Metrics) > MaxMetrics {
		return bad("%d metric definitions, want 1 to %d", len(dir.Metrics), MaxMetrics)
	}
	for _, rawDef := range dir.Metrics {
		var def map[string]json.RawMessage
		if err := json.Unmarshal(rawDef, &def); err != nil {
			return bad("MetricDefinition: %v", err)
		}
		var m Metric
		if err := json.Unmarshal(def["Name"], &m.Name); err != nil || m.Name == "" || len(m.Name) > 1024 {
			return bad("MetricDefinition without a Name")
		}
		for k := range def {
			if k != "Name" && k != "Unit" && k != "StorageResolution" {
				return bad("MetricDefinition %s has member %q", m.Name, k)
			}
		}
		if u, ok := def["Unit"]; ok {
			if err := json.Unmarshal(u, &m.Unit); err != nil || !slices.Contains(Units, m.Unit) {
				return bad("metric %s: unit %s is not a CloudWatch unit", m.Name, u)
			}
		}
		raw, ok := root[m.Name]
		if !ok {
			return bad("metric %q is not a member of the root", m.Name)
		}
		var one float64
		if err := json.Unmarshal(raw, &one); err == nil {
			m.Values = []float64{one}
		} else if err := json.Unmarshal(raw, &m.Values); err != nil || len(m.Values) == 0 || len(m.Values) > MaxValues {
			return bad("metric %q: want a number or 1 to %d numbers, have %s", m.Name, MaxValues, raw)
		}
		d.Metrics = append(d.Metrics, m)
	}
	return d, nil
}
