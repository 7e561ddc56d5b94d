package coupon

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// LineError is a line of an imported file that was refused.
type LineError struct {
	Line int
	Msg  string
}

// Error says which line and why.
func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

var importedCodePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ParseCodes reads a CSV file of codes, one per row in the first column
// (further columns, such as a note, are ignored; a first row "code" is a
// header). It returns the good codes in file order and one LineError per
// refused row: an empty or malformed code, one longer than MaxCodeLen,
// or a code seen on an earlier line. read, when not nil, is told how
// many bytes were read so far, for a progress bar.
func ParseCodes(r io.Reader, read func(n int64)) ([]string, []LineError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	var (
		codes []string
		bad   []LineError
		first = map[string]int{}
	)
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, LineError{Line: pe.StartLine, Msg: "not CSV: " + pe.Err.Error()})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("coupon.ParseCodes: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if read != nil && row%1024 == 0 {
			read(cr.InputOffset())
		}
		code := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")) // Excel's byte-order mark
		switch {
		case row == 0 && strings.EqualFold(code, "code"):
			continue
		case code == "" && len(rec) == 1:
			continue // a blank line
		case code == "":
			bad = append(bad, LineError{Line: line, Msg: "empty code"})
		case len(code) > MaxCodeLen:
			bad = append(bad, LineError{Line: line, Msg: fmt.Sprintf("code longer than %d characters", MaxCodeLen)})
		case !importedCodePattern.MatchString(code):
			bad = append(bad, LineError{Line: line, Msg: fmt.Sprintf("code %q: want letters, digits, '-' or '_'", code)})
		default:
			if prev, dup := first[code]; dup {
				bad = append(bad, LineError{Line: line, Msg: fmt.Sprintf("duplicate of line %d", prev)})
				continue
			}
			first[code] = line
			codes = append(codes, code)
		}
	}
	if read != nil {
		read(cr.InputOffset())
	}
	return codes, bad, nil
}
