package mailparse

import (
	"bytes"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Spreadsheet (XLSX) attachments are read with github.com/xuri/excelize:
// the first sheets, row by row, like a CSV file (a header row naming the
// SKU and quantity columns, among the first rows). The unzip limits bound
// what a zip bomb can cost. A workbook that cannot be read, or has no such
// header, stays an Attachment (review).

const (
	xlsxMaxSheets     = 4
	xlsxHeaderRows    = 20
	xlsxUnzipLimit    = 16 << 20
	xlsxUnzipXMLLimit = 8 << 20
)

func isXLSX(ct, ext string) bool {
	return ext == ".xlsx" || ext == ".xlsm" || ct == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
}

// xlsx reads one workbook; ok reports that it held an order table.
func (p *parser) xlsx(name string, body []byte) (ok bool) {
	defer func() {
		// excelize is third-party code reading hostile input: a panic in
		// it must cost this attachment, not the message.
		if r := recover(); r != nil {
			p.warn("%s: unreadable workbook", clean(name))
			ok = false
		}
	}()
	f, err := excelize.OpenReader(bytes.NewReader(body), excelize.Options{
		UnzipSizeLimit: xlsxUnzipLimit, UnzipXMLSizeLimit: xlsxUnzipXMLLimit,
	})
	if err != nil {
		p.warn("%s: %v", clean(name), err)
		return false
	}
	defer f.Close()
	found := false
	for i, sheet := range f.GetSheetList() {
		if i >= xlsxMaxSheets {
			break
		}
		rows, err := f.GetRows(sheet)
		if err != nil {
			p.warn("%s: sheet %s: %v", clean(name), clean(sheet), err)
			continue
		}
		if len(rows) > p.opts.MaxTextLines {
			rows = rows[:p.opts.MaxTextLines]
		}
		start, skuCol, qtyCol := -1, 0, 0
		for j, row := range rows {
			if j >= xlsxHeaderRows {
				break
			}
			if s, q, ok := p.columns(row); ok {
				start, skuCol, qtyCol = j+1, s, q
				break
			}
		}
		if start < 0 {
			continue
		}
		found = true
		for _, row := range rows[start:] {
			if strings.TrimSpace(strings.Join(row, "")) == "" {
				continue
			}
			p.row(row, skuCol, qtyCol, SourceXLSX, " | ")
		}
	}
	return found
}
