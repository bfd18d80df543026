package mailin

import (
	"bufio"
	"bytes"
	"io"
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
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(line[i:], []byte("From "))
}
