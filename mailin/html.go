package mailin

import (
	"bytes"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText turns an HTML body into the text its reader sees: block ends
// become line breaks, list items bullets, table cells are kept apart, link
// targets follow their text. Hidden elements are left out (a command in a
// display:none block must not run), and so is quoted history, recognised
// on the tree: cited blockquotes with their attribution line, Gmail's and
// Thunderbird's quote containers, and everything from Outlook's reply
// header on. It is for display only; the original HTML stays in the raw
// message.
func HTMLToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return "" // html.Parse only fails on a broken reader
	}
	c := &htmlConv{}
	c.walk(doc)
	return tidyText(c.b.String())
}

type htmlConv struct {
	b       bytes.Buffer
	stopped bool // an Outlook reply header was seen: the rest is quoted
	pre     int  // inside <pre>: whitespace is kept
}

func (c *htmlConv) walk(n *html.Node) {
	for k := n.FirstChild; k != nil && !c.stopped; k = k.NextSibling {
		c.node(k)
	}
}

func (c *htmlConv) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		c.text(n.Data)
		return
	case html.ElementNode:
	default:
		c.walk(n)
		return
	}
	if skippedElement(n) || hidden(n) {
		return
	}
	if replyHeader(n) {
		c.stopped = true
		return
	}
	if quoteContainer(n) {
		if n.DataAtom == atom.Blockquote {
			c.dropAttribution()
		}
		return
	}
	switch n.DataAtom {
	case atom.Br:
		c.b.WriteString("\n")
	case atom.Li:
		c.b.WriteString("\n- ")
		c.walk(n)
		c.b.WriteString("\n")
	case atom.Td, atom.Th:
		c.cell(n)
	case atom.A:
		c.link(n)
	case atom.Pre:
		c.b.WriteString("\n")
		c.pre++
		c.walk(n)
		c.pre--
		c.b.WriteString("\n")
	case atom.Hr:
		c.b.WriteString("\n")
	default:
		block := isBlock(n.DataAtom)
		if block {
			c.b.WriteString("\n")
		}
		c.walk(n)
		if block {
			c.b.WriteString("\n")
		}
	}
}

func (c *htmlConv) text(s string) {
	if c.pre > 0 {
		c.b.WriteString(s)
		return
	}
	// Source line breaks are spaces in HTML: Outlook's "<b>From:</b>
	// Name<br>" spread over source lines must not become blank lines.
	f := strings.Fields(s)
	if s != "" && isSpace(s[0]) {
		c.space()
	}
	if len(f) == 0 {
		return
	}
	c.b.WriteString(strings.Join(f, " "))
	if isSpace(s[len(s)-1]) {
		c.space()
	}
}

// space writes one space unless the text already ends in white space.
func (c *htmlConv) space() {
	if out := c.b.Bytes(); len(out) > 0 && !isSpace(out[len(out)-1]) {
		c.b.WriteByte(' ')
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' || b == '\f' }

// cell writes a table cell, kept apart from the one before it in its row.
func (c *htmlConv) cell(n *html.Node) {
	if prev := previousElement(n); prev != nil && (prev.DataAtom == atom.Td || prev.DataAtom == atom.Th) {
		c.b.WriteString(" | ")
	}
	c.walk(n)
}

// link writes a link's text and, when the text does not show it, its target.
func (c *htmlConv) link(n *html.Node) {
	start := c.b.Len()
	c.walk(n)
	href := strings.TrimSpace(attr(n, "href"))
	shown := strings.TrimSpace(string(c.b.Bytes()[start:]))
	target := strings.TrimPrefix(href, "mailto:")
	if !strings.HasPrefix(href, "http://") && !strings.HasPrefix(href, "https://") && !strings.HasPrefix(href, "mailto:") {
		return
	}
	if shown == "" || !strings.Contains(shown, target) {
		c.b.WriteString(" (" + target + ")")
	}
}

// dropAttribution removes the line just written when it introduces the
// cited blockquote being dropped ("On …, Greg wrote:", Apple Mail's way).
func (c *htmlConv) dropAttribution() {
	out := bytes.TrimRight(c.b.Bytes(), " \n")
	i := bytes.LastIndexByte(out, '\n')
	if len(out)-i > 400 {
		return // longer than any attribution; and never rescan a long text
	}
	if _, n := attribution([]string{string(out[i+1:])}, 0); n > 0 {
		c.b.Truncate(i + 1)
	}
}

func skippedElement(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template, atom.Object, atom.Iframe, atom.Svg:
		return true
	}
	return false
}

var hiddenStyleRE = regexp.MustCompile(`(?i)(^|;)\s*(display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all|` +
	`font-size\s*:\s*0(\.0+)?(px|pt|em|rem|%)?\s*(!important)?\s*(;|$)|opacity\s*:\s*0(\.0+)?\s*(;|$)|max-height\s*:\s*0)`)

// hidden reports an element its reader never sees.
func hidden(n *html.Node) bool {
	if _, ok := attrOK(n, "hidden"); ok {
		return true
	}
	if strings.EqualFold(attr(n, "aria-hidden"), "true") && n.DataAtom != atom.Img {
		return true
	}
	return hiddenStyleRE.MatchString(attr(n, "style"))
}

// quoteContainer reports an element that holds quoted history and nothing
// new: a cited blockquote, Gmail's and Yahoo's quote containers,
// Thunderbird's attribution line.
func quoteContainer(n *html.Node) bool {
	if n.DataAtom == atom.Blockquote && strings.EqualFold(attr(n, "type"), "cite") {
		return true
	}
	for _, class := range strings.Fields(attr(n, "class")) {
		switch class {
		case "gmail_quote", "gmail_quote_container", "gmail_attr", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote":
			return true
		}
	}
	return false
}

// replyHeader reports where Outlook's quoted history starts: Outlook on
// the web's divRplyFwdMsg (and the rule before it), or desktop Outlook's
// border-top block whose first line is a From header in any language.
func replyHeader(n *html.Node) bool {
	switch attr(n, "id") {
	case "divRplyFwdMsg", "appendonsend", "stopSpelling":
		return true
	}
	if n.DataAtom != atom.Div && n.DataAtom != atom.P {
		return false
	}
	style := strings.ToLower(attr(n, "style"))
	if !strings.Contains(style, "border-top") {
		return false
	}
	var text strings.Builder
	collectText(n, &text, 200)
	line := strings.TrimSpace(text.String())
	return headerLabel(line) == labelFrom
}

func collectText(n *html.Node, b *strings.Builder, max int) {
	for k := n.FirstChild; k != nil && b.Len() < max; k = k.NextSibling {
		if k.Type == html.TextNode {
			b.WriteString(k.Data)
		}
		collectText(k, b, max)
	}
}

func previousElement(n *html.Node) *html.Node {
	for p := n.PrevSibling; p != nil; p = p.PrevSibling {
		if p.Type == html.ElementNode {
			return p
		}
	}
	return nil
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Tr, atom.Table, atom.Ul, atom.Ol, atom.Blockquote, atom.H1, atom.H2, atom.H3, atom.H4,
		atom.H5, atom.H6, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Address, atom.Dl, atom.Dt, atom.Dd,
		atom.Center, atom.Body, atom.Main, atom.Nav, atom.Aside, atom.Figure, atom.Figcaption, atom.Caption:
		return true
	}
	return false
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val, true
		}
	}
	return "", false
}

// tidyText trims every line and keeps at most one blank line in a row.
func tidyText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	blank := false
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "\u00a0") {
			line = strings.TrimSpace(strings.ReplaceAll(line, "\u00a0", " "))
		}
		if line == "" {
			blank = b.Len() > 0
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
			if blank {
				b.WriteByte('\n')
			}
		}
		blank = false
		b.WriteString(line)
	}
	return b.String()
}
