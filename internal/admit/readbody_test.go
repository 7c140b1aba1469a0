package admit

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReadBody(t *testing.T) {
	const limit = 100 << 10
	for _, size := range []int{0, 1, 511, 512, maxPresize - 1, maxPresize, maxPresize + 1, limit, limit + 1, 3 * limit} {
		body := bytes.Repeat([]byte{'x'}, size)
		want := min(size, limit+1)
		for _, declared := range []int64{int64(size), -1, int64(size) + 10, 50 << 20} {
			r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
			r.ContentLength = declared
			got, err := readBody(r, limit)
			if err != nil || len(got) != want {
				t.Errorf("%d bytes, declared %d: read %d (%v), want %d", size, declared, len(got), err, want)
			}
			// a declared length sizes the buffer up to maxPresize only
			if size < 512 && cap(got) > maxPresize+bytes.MinRead {
				t.Errorf("%d bytes, declared %d: a buffer of %d bytes", size, declared, cap(got))
			}
		}
	}
}
