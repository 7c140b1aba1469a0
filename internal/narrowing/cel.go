package narrowing

import (
	"fmt"
	"strings"
)

// celString is s as a CEL string literal: quotes, backslashes and control
// characters escaped, so no config string can end the literal or break the
// expression.
func celString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// celList is a CEL list literal of strings.
func celList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = celString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// celPrefixes is v.startsWith(p) || ... ("false" for none).
func celPrefixes(v string, prefixes []string) string {
	if len(prefixes) == 0 {
		return "false"
	}
	q := make([]string, len(prefixes))
	for i, p := range prefixes {
		q[i] = fmt.Sprintf("%s.startsWith(%s)", v, celString(p))
	}
	return strings.Join(q, " || ")
}
