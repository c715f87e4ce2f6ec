package mask

import (
	"html"
	"net/url"
	"strings"
)

// urlForms returns v percent-encoded the ways tools write URLs: Go's query (space as +) and
// path escapes, RFC 3986 data escaping (everything but unreserved characters, as .NET's
// EscapeDataString and JavaScript's encodeURIComponent), and JavaScript's encodeURI, which
// keeps the reserved characters of a URL (/ : ? & = + $ , # @ ;); each also with lower-case hex.
func urlForms(v string) []string {
	forms := []string{
		url.QueryEscape(v),
		url.PathEscape(v),
		percentEncode(v, unreserved),
		percentEncode(v, unreserved+"/:?&=+$,#@;!*'()"),
	}
	for _, f := range forms[:len(forms):len(forms)] {
		forms = append(forms, lowerHex(f))
	}
	return forms
}

const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"

// percentEncode escapes every byte of v that is not in keep as %XX.
func percentEncode(v, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
	return b.String()
}

// lowerHex lowers the hex digits of every %XX escape.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if 'A' <= b[j] && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

// markupForms returns v as XML and HTML text and attribute values: Go's html.EscapeString
// (&#39; &#34;), XML's named entities (&apos; &quot;), and numeric hex entities for quotes.
func markupForms(v string) []string {
	xml := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	hexq := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#x22;", "'", "&#x27;")
	text := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return []string{html.EscapeString(v), xml.Replace(v), hexq.Replace(v), text.Replace(v)}
}

// shellForms returns v as shells and command lines quote it: inside single quotes ('\” for
// a quote), with backslashes before what double quotes and sh treat specially, and as a
// Windows command-line argument (backslashes doubled before a quote, the quote escaped).
func shellForms(v string) []string {
	single := strings.ReplaceAll(v, "'", `'\''`)
	double := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(v)
	backslash := strings.NewReplacer(`\`, `\\`, " ", `\ `, "'", `\'`, `"`, `\"`, "$", `\$`, "&", `\&`,
		";", `\;`, "|", `\|`, "<", `\<`, ">", `\>`, "(", `\(`, ")", `\)`, "*", `\*`, "?", `\?`).Replace(v)
	return []string{single, double, backslash, windowsArg(v)}
}

// windowsArg escapes v the way CommandLineToArgvW reads it back: 2n backslashes and \" for n
// backslashes before a quote; backslashes elsewhere stay.
func windowsArg(v string) string {
	var b strings.Builder
	slashes := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
			b.WriteByte('"')
			slashes = 0
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
			b.WriteByte(c)
			slashes = 0
		}
		if v[i] == '\\' && i == len(v)-1 {
			b.WriteString(strings.Repeat(`\`, slashes))
		}
	}
	return b.String()
}
