package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// runFloor serves a do-nothing controller-runtime webhook: the same
// webhook server, TLS settings and admission.Webhook decoding and
// encoding as driftguard, with a handler that allows everything. It is
// the floor every admission webhook built on controller-runtime pays.
func runFloor(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: bench floor <cert-dir> <port>")
	}
	port, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: args[0],
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12; c.NextProtos = []string{"http/1.1"} }}})
	allow := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	srv.Register("/validate", allow)
	srv.Register("/mutate", allow)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctrl.SetLogger(logr.Discard())
	return srv.Start(ctx)
}

// server is one webhook process under test.
type server struct {
	name    string
	cmd     *exec.Cmd
	port    int
	metrics string // driftguard's metrics address ("" for the floor)
	log     string
	done    chan struct{} // closed when the process has exited
}

// start runs argv pinned to cpu (taskset, when present and cpu >= 0)
// with GOMAXPROCS=procs and env added to the environment, and waits until
// it accepts TLS connections.
func start(name string, argv []string, cpu, procs int, port int, metrics, logDir string, env ...string) (*server, error) {
	if cpu >= 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = append([]string{ts, "-c", strconv.Itoa(cpu)}, argv...)
		}
	}
	s := &server{name: name, port: port, metrics: metrics, log: filepath.Join(logDir, name+".log")}
	lf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	s.cmd.Env = append(append(os.Environ(), env...), fmt.Sprintf("GOMAXPROCS=%d", procs))
	if err := s.cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); lf.Close(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness only
		if err == nil {
			c.Close()
			return s, nil
		}
		if s.exited() || time.Now().After(deadline) {
			s.stop()
			b, _ := os.ReadFile(s.log)
			return nil, fmt.Errorf("%s did not start: %v\n%s", name, err, tailText(string(b), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) pid() int {
	// with taskset the server is taskset's exec'd image: same pid
	return s.cmd.Process.Pid
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *server) stop() {
	if s.cmd.Process == nil || s.exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// procStat is a process's CPU time and resident memory from /proc.
type procStat struct {
	cpu time.Duration
	rss int64 // bytes
}

var clockTicks = 100 // USER_HZ; Linux reports /proc times in it

func readProc(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// fields after the parenthesised command name
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); utime is field 14, stime 15, rss 24 (pages)
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return procStat{
		cpu: time.Duration(ut+st) * time.Second / time.Duration(clockTicks),
		rss: rss * int64(os.Getpagesize()),
	}, nil
}

func tailText(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
