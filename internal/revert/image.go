package revert

import (
	"strconv"
	"strings"
)

// isImage: the field is a container's image.
func isImage(path string) bool { return strings.HasSuffix(path, "].image") }

// OlderTag reports whether image to has an older version tag than from,
// for the same repository: tags compared as dotted numbers (an optional
// leading v; 2.0.5 < 2.5.0 < 2.10.0). Digests, different repositories and
// tags that are not versions are never "older".
func OlderTag(to, from string) bool {
	rt, tt := splitImage(to)
	rf, tf := splitImage(from)
	if rt == "" || rt != rf {
		return false
	}
	a, ok1 := version(tt)
	b, ok2 := version(tf)
	if !ok1 || !ok2 {
		return false
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// splitImage splits repo:tag (a registry port is not a tag; a digest has
// no tag).
func splitImage(img string) (repo, tag string) {
	if strings.Contains(img, "@") {
		return "", ""
	}
	i := strings.LastIndex(img, ":")
	if i < 0 || strings.Contains(img[i:], "/") {
		return img, ""
	}
	return img[:i], img[i+1:]
}

func version(tag string) ([]int, bool) {
	tag = strings.TrimPrefix(tag, "v")
	if tag == "" {
		return nil, false
	}
	if i := strings.IndexAny(tag, "-+"); i >= 0 {
		tag = tag[:i]
	}
	var out []int
	for _, p := range strings.Split(tag, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}
