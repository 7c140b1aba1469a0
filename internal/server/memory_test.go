package server

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		file, content string
		want          int64
	}{
		{"memory.max", "536870912\n", 536870912},
		{"memory.max", "max\n", 0},
		{"memory/memory.limit_in_bytes", "268435456\n", 268435456},
		{"memory/memory.limit_in_bytes", "9223372036854771712\n", 0}, // v1 without a limit
		{"memory.max", "garbage", 0},
	} {
		root := t.TempDir()
		p := filepath.Join(root, c.file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := cgroupMemoryLimit(root); got != c.want {
			t.Errorf("%s %q: got %d, want %d", c.file, c.content, got, c.want)
		}
	}
	if got := cgroupMemoryLimit(t.TempDir()); got != 0 {
		t.Errorf("no cgroup files: %d", got)
	}
}
