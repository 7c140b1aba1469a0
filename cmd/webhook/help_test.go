package main

import (
	"os"
	"strings"
	"testing"
)

// captureStdout runs f with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				done <- b.String()
				return
			}
		}
	}()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	return <-done
}

// `driftguard --help` (and -h, help) lists every command on stdout and
// exits 0, instead of falling through to serve's flags with exit 2.
func TestTopLevelHelpListsCommands(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help", "help"} {
		t.Run(arg, func(t *testing.T) {
			var code int
			out := captureStdout(t, func() { code = run([]string{arg}) })
			if code != 0 {
				t.Errorf("driftguard %s exited %d, want 0", arg, code)
			}
			if strings.Contains(out, "Usage of serve") {
				t.Errorf("driftguard %s printed serve's flags:\n%s", arg, out)
			}
			for _, c := range commands() {
				if !strings.Contains(out, "  "+c.name+" ") {
					t.Errorf("driftguard %s does not list command %q:\n%s", arg, c.name, out)
				}
			}
		})
	}
}

// Every command's -h exits 0.
func TestEveryCommandHelpExitsZero(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			if code := run([]string{c.name, "-h"}); code != 0 {
				t.Errorf("driftguard %s -h exited %d, want 0", c.name, code)
			}
		})
	}
}

// An unknown command is a usage error.
func TestUnknownCommandExits2(t *testing.T) {
	if code := run([]string{"bogus"}); code != 2 {
		t.Errorf("driftguard bogus exited %d, want 2", code)
	}
}
