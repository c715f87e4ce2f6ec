package pipeline_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
)

// The lock tests take LocalStore locks from several processes: this test binary, re-executed
// to run TestLockHelperProcess with these variables set.
const (
	lockHelperID    = "FERRY_LOCK_HELPER"       // the helper's name (p1, p2, ...)
	lockHelperStore = "FERRY_LOCK_HELPER_STORE" // the store folder
	lockHelperTimes = "FERRY_LOCK_HELPER_TIMES" // how many times to take the lock
	lockHelperHold  = "FERRY_LOCK_HELPER_HOLD"  // "release": hold until <store>/release-<id> exists
	lockName        = "env-a-qa"
)

// TestLockHelperProcess is not a test on its own: it takes the lock for the tests below, in a
// process of its own. Each time it holds the lock it appends "enter <id>" and "exit <id>" to
// <store>/holders.log and owns <store>/held (created exclusively: a second holder could not);
// onWait appends "wait <id> <holder>".
func TestLockHelperProcess(t *testing.T) {
	id := os.Getenv(lockHelperID)
	if id == "" {
		return // only a helper when the lock tests start it
	}
	dir := os.Getenv(lockHelperStore)
	times, _ := strconv.Atoi(os.Getenv(lockHelperTimes))
	store, err := pipeline.NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.OpenFile(filepath.Join(dir, "holders.log"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	write := func(format string, args ...any) {
		// One write per line: O_APPEND keeps lines of different processes whole.
		if _, err := log.WriteString(fmt.Sprintf(format, args...) + "\n"); err != nil {
			t.Fatal(err)
		}
		if err := log.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	held := filepath.Join(dir, "held")
	for range times {
		unlock, err := store.Lock(t.Context(), lockName, "helper "+id, func(heldBy string) { write("wait %s %s", id, heldBy) })
		if err != nil {
			t.Fatal(err)
		}
		marker, err := os.OpenFile(held, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			write("overlap %s: %v", id, err)
			t.Fatalf("%s holds the lock, but: %v", id, err)
		}
		marker.Close()
		write("enter %s", id)
		if os.Getenv(lockHelperHold) == "release" {
			release := filepath.Join(dir, "release-"+id)
			for deadline := time.Now().Add(30 * time.Second); ; {
				if _, err := os.Stat(release); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: nobody created %s", id, release)
				}
				time.Sleep(5 * time.Millisecond) // polling for the release file
			}
		}
		write("exit %s", id)
		if err := os.Remove(held); err != nil {
			t.Fatal(err)
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
	}
}

// lockProc is a helper process.
type lockProc struct {
	id     string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // closed when it exited, with err
	err    error
}

func (p *lockProc) wait() error {
	<-p.done
	return p.err
}

func (p *lockProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startLocker starts a helper that takes the lock times times; hold=release makes it wait for
// release-<id> while it holds the lock.
func startLocker(t *testing.T, dir, id string, times int, hold string) *lockProc {
	t.Helper()
	p := &lockProc{id: id, done: make(chan struct{})}
	p.cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), lockHelperID+"="+id, lockHelperStore+"="+dir,
		lockHelperTimes+"="+strconv.Itoa(times), lockHelperHold+"="+hold,
		// Under -race a process waits 1s at exit for late reports; races are still reported.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	p.cmd.Stdout, p.cmd.Stderr = &p.stderr, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		p.err = p.cmd.Wait()
	}()
	return p
}

func holdersLog(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "holders.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// tickets lists the queue's tickets (its dot files are the counter and the queue's own lock).
func tickets(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "locks", lockName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// waitForLine polls the holders' log for a line; it fails after 30s, or as soon as one of
// procs has exited without writing it.
func waitForLine(t *testing.T, dir, line string, procs ...*lockProc) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !slices.Contains(holdersLog(t, dir), line); {
		gone := slices.ContainsFunc(procs, (*lockProc).exited)
		if gone && slices.Contains(holdersLog(t, dir), line) {
			break
		}
		if gone || time.Now().After(deadline) {
			var errs strings.Builder
			for _, p := range procs {
				fmt.Fprintf(&errs, "%s: %s\n", p.id, p.stderr.String())
			}
			t.Fatalf("waiting for %q in the holders' log, but a helper exited or 30s passed:\n%s\n%s",
				line, strings.Join(holdersLog(t, dir), "\n"), errs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a file another process writes
	}
}

// checkExclusive checks that holders never overlap: enter and exit alternate, by the same
// holder. It returns the holders in the order they entered.
func checkExclusive(t *testing.T, log []string) []string {
	t.Helper()
	var order []string
	holder := ""
	for i, line := range log {
		verb, id, _ := strings.Cut(line, " ")
		switch verb {
		case "enter":
			if holder != "" {
				t.Errorf("line %d: %s entered while %s held the lock:\n%s", i+1, id, holder, strings.Join(log, "\n"))
			}
			holder = id
			order = append(order, id)
		case "exit":
			if holder != id {
				t.Errorf("line %d: %s exited while %q held the lock:\n%s", i+1, id, holder, strings.Join(log, "\n"))
			}
			holder = ""
		case "overlap":
			t.Errorf("line %d: %s", i+1, line)
		}
	}
	return order
}

// TestLockIsFirstComeFirstServedAcrossProcesses queues four processes on one lock, each
// arriving after the previous one has its ticket: they enter in arrival order; waiters are
// told who holds the lock; a holder killed with SIGKILL loses its ticket, so the next one
// enters.
func TestLockIsFirstComeFirstServedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	ids := []string{"p1", "p2", "p3", "p4"}
	procs := map[string]*lockProc{}
	done := map[string]bool{} // released or killed: may exit
	all := func() []*lockProc {
		var out []*lockProc
		for _, id := range ids {
			if p := procs[id]; p != nil && !done[id] {
				out = append(out, p)
			}
		}
		return out
	}

	procs["p1"] = startLocker(t, dir, "p1", 1, "release")
	waitForLine(t, dir, "enter p1", all()...)
	for i, id := range ids[1:] {
		procs[id] = startLocker(t, dir, id, 1, "release")
		// Its first onWait names the holder; by then its ticket exists.
		waitForLine(t, dir, "wait "+id+" helper p1", all()...)
		if got := len(tickets(t, dir)); got != i+2 {
			t.Fatalf("%d tickets queued after %s arrived, want %d", got, id, i+2)
		}
	}

	release := func(id string) {
		t.Helper()
		done[id] = true
		if err := os.WriteFile(filepath.Join(dir, "release-"+id), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	release("p1")
	waitForLine(t, dir, "enter p2", all()...)
	// p2 dies holding the lock. It does nothing but wait from here, so its critical section is
	// closed for it first: exit logged, marker removed.
	f, err := os.OpenFile(filepath.Join(dir, "holders.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("exit p2\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(filepath.Join(dir, "held")); err != nil {
		t.Fatal(err)
	}
	done["p2"] = true
	if err := procs["p2"].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := procs["p2"].wait(); err == nil {
		t.Fatal("p2 survived SIGKILL")
	} else if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("p2: %v", err)
	}
	waitForLine(t, dir, "enter p3", all()...)
	release("p3")
	waitForLine(t, dir, "enter p4", all()...)
	release("p4")
	for _, id := range []string{"p1", "p3", "p4"} {
		if err := procs[id].wait(); err != nil {
			t.Errorf("%s: %v\n%s", id, err, procs[id].stderr.String())
		}
	}

	log := holdersLog(t, dir)
	if got := checkExclusive(t, log); !cmp.Equal(got, ids) {
		t.Errorf("holders entered in the order %v, want their arrival order %v", got, ids)
	}
	// Every waiter was first told about p1, and only ever about earlier arrivals, in order.
	for i, id := range ids {
		var told []string
		for _, line := range log {
			if rest, ok := strings.CutPrefix(line, "wait "+id+" helper "); ok {
				told = append(told, rest)
			}
		}
		if i == 0 {
			if len(told) > 0 {
				t.Errorf("p1 found the lock free, yet waited for %v", told)
			}
			continue
		}
		ok := len(told) > 0 && told[0] == "p1" && slices.IsSorted(told)
		for _, h := range told {
			ok = ok && h < id
		}
		if !ok {
			t.Errorf("%s was told it waited for %v; want p1 first, then earlier arrivals only", id, told)
		}
	}
	if left := tickets(t, dir); len(left) != 0 {
		t.Errorf("tickets left after everyone released or died: %v", left)
	}
}

// TestLockExcludesConcurrentHolders lets four processes compete for one lock, five times
// each: no two hold it at once.
func TestLockExcludesConcurrentHolders(t *testing.T) {
	dir := t.TempDir()
	const n, times = 4, 5
	var procs []*lockProc
	for i := range n {
		procs = append(procs, startLocker(t, dir, fmt.Sprintf("p%d", i+1), times, ""))
	}
	for _, p := range procs {
		if err := p.wait(); err != nil {
			t.Errorf("%s: %v\n%s", p.id, err, p.stderr.String())
		}
	}
	if got := checkExclusive(t, holdersLog(t, dir)); len(got) != n*times {
		t.Errorf("%d entries, want %d", len(got), n*times)
	}
	if left := tickets(t, dir); len(left) != 0 {
		t.Errorf("tickets left: %v", left)
	}
}
