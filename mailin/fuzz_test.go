package mailin

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes through everything Deliver does before
// the database: parsing, classification, quote stripping and command
// parsing. None of it may panic, hang, or return invalid UTF-8 text.
//
//	go test -fuzz FuzzParse -fuzztime 2m ./mailin
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/machine", "testdata/mime"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		lim := Limits{MaxBytes: 1 << 20, MaxHeaderBytes: 64 << 10, MaxDepth: 10, MaxParts: 100}
		p, err := Parse(raw, lim)
		if err != nil {
			return
		}
		Classify(p, "desk.test")
		text := StripQuotes(p.Text)
		if !utf8.ValidString(p.Text) {
			t.Errorf("invalid UTF-8 in text")
		}
		cmds, _ := ParseCommands(text)
		for _, c := range cmds {
			if c.Name == "" {
				t.Errorf("empty command name from %q", c.Raw)
			}
		}
	})
}
