package server

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/go-logr/logr"

	"github.com/driftguard/driftguard/internal/admit"
)

// tuneGC trades memory for CPU: an admission webhook allocates a lot per
// request (two decoded objects, the policy input, Rego's values) and
// holds little between requests, so with Go's default GOGC=100 the
// garbage collector takes a large share of each request's CPU (see
// docs/benchmarks.md). gcPercent applies unless GOGC is set; a soft
// memory limit of 80% of the container's cgroup memory limit (unless
// GOMEMLIMIT is set) makes the collector work harder before the
// container would be OOM-killed.
func tuneGC(log logr.Logger, gcPercent int, cgroupRoot string) {
	gogc := "GOGC=" + os.Getenv("GOGC")
	if os.Getenv("GOGC") == "" && gcPercent > 0 {
		debug.SetGCPercent(gcPercent)
		gogc = "--gc-percent=" + strconv.Itoa(gcPercent)
	}
	limit := "GOMEMLIMIT=" + os.Getenv("GOMEMLIMIT")
	if os.Getenv("GOMEMLIMIT") == "" {
		limit = "none"
		if l := cgroupMemoryLimit(cgroupRoot); l > 0 {
			debug.SetMemoryLimit(l / 10 * 8)
			limit = strconv.FormatInt(l/10*8, 10) + " bytes (80% of the cgroup's memory limit)"
		}
	}
	log.Info("garbage collector", "gc", gogc, "softMemoryLimit", limit)
}

// cgroupMemoryLimit reads the memory limit of the process's cgroup (v2
// memory.max, else v1 memory.limit_in_bytes); 0 when there is none.
func cgroupMemoryLimit(root string) int64 {
	for _, p := range []string{root + "/memory.max", root + "/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // v1 reports "no limit" as a huge number
			return 0
		}
		return n
	}
	return 0
}

// reviewBudget sizes the bytes of reviews worked on at once from the soft
// memory limit set by tuneGC (or GOMEMLIMIT); none without a limit.
func reviewBudget(log logr.Logger) *admit.Budget {
	limit := debug.SetMemoryLimit(-1)
	b := admit.BudgetForMemoryLimit(limit)
	if limit == math.MaxInt64 {
		log.Info("review memory budget", "budgetBytes", "none (no memory limit)")
	} else {
		log.Info("review memory budget", "budgetBytes", b.Size(), "softMemoryLimit", limit)
	}
	return b
}
