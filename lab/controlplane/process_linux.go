package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// startProcess starts bin with args inside network namespace ns (through `ip netns exec`, which
// execs bin in place, so the PID is bin's own; ns empty: the caller's namespace) in a session of
// its own, so it outlives the caller, with stdout and stderr appended to logDir/NAME.log.
func startProcess(ns, name, bin string, args []string, logDir string) (Process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Process{}, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logf.Close()
	argv := append([]string{bin}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("start %s: %w", name, err)
	}
	// Reap it if it exits while this process still runs, so liveness checks see it gone
	// instead of a zombie.
	go func() { _ = cmd.Wait() }()
	start, err := procStartTime(cmd.Process.Pid)
	if err != nil {
		return Process{}, fmt.Errorf("start %s: %w", name, err)
	}
	return Process{Name: name, PID: cmd.Process.Pid, StartTime: start, Log: logPath}, nil
}

// procStat returns the state letter and start time (field 22, clock ticks after boot) of pid.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; fields resume after ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state), f[19] is field 22 (starttime)
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return f[0][0], start, nil
}

func procStartTime(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// Alive reports whether the process still runs: its PID exists, is not a zombie, and has the
// start time recorded when it was started.
func (p Process) Alive() bool {
	state, start, err := procStat(p.PID)
	return err == nil && start == p.StartTime && state != 'Z' && state != 'X'
}

// RSS returns the process's resident set size in bytes (VmRSS), or 0 when it is gone.
func (p Process) RSS() int64 {
	if !p.Alive() {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// stop sends SIGTERM, waits up to grace for the process to go, then SIGKILL. A process that is
// already gone (or whose PID now belongs to another process) is left alone.
func (p Process) stop(ctx context.Context, grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	if p.waitGone(ctx, grace) {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	if p.waitGone(ctx, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("stop %s (pid %d): still running after SIGKILL", p.Name, p.PID)
}

func (p Process) waitGone(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.Alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// logTail returns the last n bytes of the process's log, for error messages.
func (p Process) logTail(n int64) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, 0)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(f)
	return buf.String()
}
