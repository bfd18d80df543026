package mailin

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"time"
)

// EnvelopeReader reads a message as an MTA pipes it to a command: without
// the mbox envelope line ("From sender date") that Postfix's local(8), and
// pipe(8) with the F flag, put in front. With fromQuoted it also undoes the
// mbox quoting of body lines (">From " back to "From ", one ">" off any
// ">>From "), which pipe(8) adds with its ">" flag; local(8) does not
// quote, so unquoting by default would damage mail that really has ">From".
func EnvelopeReader(r io.Reader, fromQuoted bool) io.Reader {
	return &envelopeReader{br: bufio.NewReaderSize(r, 64<<10), fromQuoted: fromQuoted, first: true}
}

type envelopeReader struct {
	br         *bufio.Reader
	fromQuoted bool
	first      bool
	pending    []byte // the rest of the current line
	atLineHead bool
	err        error
}

func (e *envelopeReader) Read(p []byte) (int, error) {
	if e.first {
		e.first = false
		if head, _ := e.br.Peek(5); bytes.Equal(head, []byte("From ")) {
			if _, err := e.br.ReadSlice('\n'); err != nil && err != bufio.ErrBufferFull {
				return 0, err
			}
		}
		e.atLineHead = true
	}
	if !e.fromQuoted {
		return e.br.Read(p)
	}
	n := 0
	for n < len(p) {
		if len(e.pending) == 0 {
			if e.err != nil {
				if n > 0 {
					return n, nil
				}
				return 0, e.err
			}
			line, err := e.br.ReadSlice('\n')
			e.err = err
			if err == bufio.ErrBufferFull {
				e.err = nil
			}
			if e.atLineHead && isQuotedFrom(line) {
				line = line[1:]
			}
			e.atLineHead = len(line) > 0 && line[len(line)-1] == '\n'
			e.pending = line
		}
		c := copy(p[n:], e.pending)
		n += c
		e.pending = e.pending[c:]
	}
	return n, nil
}

// isQuotedFrom matches ">From ", ">>From " and so on (mboxrd).
func isQuotedFrom(line []byte) bool {
	quotes, from := mboxFrom(line)
	return from && quotes > 0
}

// mboxFrom reports whether a line is "From " behind any number of ">",
// and how many: mboxrd quotes every such line once more when writing, and
// takes one ">" off when reading.
func mboxFrom(line []byte) (quotes int, from bool) {
	for quotes < len(line) && line[quotes] == '>' {
		quotes++
	}
	return quotes, bytes.HasPrefix(line[quotes:], []byte("From "))
}

// AppendMbox appends one message in mboxrd form: the envelope line, then
// the message with line ends as LF and its "From " lines quoted, so that
// EnvelopeReader with fromQuoted gives the lines back.
func AppendMbox(w *bytes.Buffer, from string, at time.Time, raw []byte) {
	fmt.Fprintf(w, "From %s %s\n", from, at.UTC().Format(time.ANSIC))
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), len(raw)+1)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if _, quote := mboxFrom(line); quote {
			w.WriteByte('>')
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	w.WriteByte('\n')
}
