// Package forward is the minimal forwarding loop that proves the AF_XDP packet path: a static
// map of routes, each sending every frame received on one port out of another. It is not the
// flow pipeline; it is the polling and ownership skeleton the pipeline will run in.
//
//	route A→B, one goroutine locked to its OS thread:
//
//	port A ──Receive (batch)──> drop runts ──Transmit (batch)──> port B
//	  ^                                                             │ zero-copy on a shared
//	  └── Wait (poll(2)) once BusyPolls receives in a row came back │ UMEM, copy otherwise
//	      empty; the first frame switches back to busy polling      v
//
// Polling is adaptive: while frames flow a route's goroutine polls its rings without syscalls;
// after BusyPolls empty rounds it sleeps in the port's Wait (poll(2) on an AF_XDP socket, which
// also serves need_wakeup) for up to IdleWait, so an idle loop costs one wakeup per IdleWait.
// A stop request (context cancellation) is seen within IdleWait.
//
// Bad input never panics and never leaks a frame: a frame shorter than an Ethernet header is
// freed and counted (DropRunt); frames the destination cannot take (too long for its chunks, TX
// ring full, destination gone) are freed and counted by the destination port; a source port
// that disappears stops its route, is counted (DropPortDown) and logged once, and the other
// routes go on.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicenet/sluice/datapath/port"
)

// EthernetHeaderLen is the shortest frame the loop forwards.
const EthernetHeaderLen = 14

// Route sends everything received on From out of To.
type Route struct {
	From, To port.Port
}

// Options configures a Loop.
type Options struct {
	// Batch is how many frames one Receive/Transmit moves.
	Batch int
	// BusyPolls is how many empty receives in a row a route makes before it sleeps.
	BusyPolls int
	// IdleWait is how long one sleep lasts at most; it bounds how long a stop takes.
	IdleWait time.Duration
}

// DefaultOptions returns batches of 64 (the kernel's copy-mode TX budget is 32, NAPI's is 64),
// 256 empty polls before sleeping (a few microseconds of spinning, enough to ride out gaps
// inside a burst) and 100 ms sleeps.
func DefaultOptions() Options {
	return Options{Batch: 64, BusyPolls: 256, IdleWait: 100 * time.Millisecond}
}

// DropReason says why the loop itself dropped a frame or stopped a route.
type DropReason int

const (
	// DropRunt: the frame is shorter than an Ethernet header (truncated).
	DropRunt DropReason = iota
	// DropPortDown: the route's source port disappeared; counted once per route.
	DropPortDown
	// NumDropReasons is the number of reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"runt", "port_down"}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r < 0 || r >= NumDropReasons {
		return "unknown"
	}
	return dropNames[r]
}

// RouteStats are one route's counters.
type RouteStats struct {
	From, To  string
	Forwarded uint64 // frames the destination port accepted
	Drops     [NumDropReasons]uint64
	Sleeps    uint64 // times the route slept in Wait
}

// Loop forwards frames along a static set of routes.
type Loop struct {
	log     *slog.Logger
	opts    Options
	workers []*worker
}

// worker runs one route; its fields other than the counters belong to its goroutine.
type worker struct {
	route     Route
	frames    []port.Frame
	forwarded atomic.Uint64
	drops     [NumDropReasons]atomic.Uint64
	sleeps    atomic.Uint64
}

// New returns a loop over routes; Run starts it.
func New(log *slog.Logger, routes []Route, opts Options) (*Loop, error) {
	if opts.Batch <= 0 || opts.BusyPolls < 0 || opts.IdleWait <= 0 {
		return nil, fmt.Errorf("forward options %+v: Batch and IdleWait must be positive", opts)
	}
	l := &Loop{log: log, opts: opts}
	for _, r := range routes {
		if r.From == nil || r.To == nil {
			return nil, errors.New("forward route with a nil port")
		}
		l.workers = append(l.workers, &worker{route: r, frames: make([]port.Frame, opts.Batch)})
	}
	return l, nil
}

// Run forwards until ctx is cancelled or every route's source port is gone, with one goroutine
// per route locked to its OS thread. It returns a port's unexpected error, if any.
func (l *Loop) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, w := range l.workers {
		g.Go(func() error { return l.run(ctx, w) })
	}
	return g.Wait()
}

func (l *Loop) run(ctx context.Context, w *worker) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	done := ctx.Done()
	idle := 0
	for {
		select {
		case <-done:
			return nil
		default:
		}
		n, err := w.step()
		if err == nil && n == 0 {
			if idle++; idle >= l.opts.BusyPolls {
				w.sleeps.Add(1)
				err = w.route.From.Wait(l.opts.IdleWait)
			}
		} else if n > 0 {
			idle = 0
		}
		if errors.Is(err, port.ErrDown) {
			w.drops[DropPortDown].Add(1)
			l.log.Warn("source port gone, route stopped", "from", w.route.From.Name(), "to", w.route.To.Name())
			return nil
		}
		if err != nil {
			return fmt.Errorf("forward %s to %s: %w", w.route.From.Name(), w.route.To.Name(), err)
		}
	}
}

// step moves one batch along the route and returns how many frames it received.
func (w *worker) step() (int, error) {
	n, err := w.route.From.Receive(w.frames)
	if n == 0 {
		return 0, err
	}
	k := 0
	for i := range n {
		if w.frames[i].Len() < EthernetHeaderLen {
			w.frames[i].Free()
			w.drops[DropRunt].Add(1)
			continue
		}
		w.frames[k] = w.frames[i]
		k++
	}
	if k > 0 {
		w.forwarded.Add(uint64(w.route.To.Transmit(w.frames[:k])))
	}
	clear(w.frames[:n]) // the frames belong to the destination now
	return n, err
}

// Stats returns each route's counters, in the order the routes were given.
func (l *Loop) Stats() []RouteStats {
	out := make([]RouteStats, len(l.workers))
	for i, w := range l.workers {
		s := RouteStats{From: w.route.From.Name(), To: w.route.To.Name(),
			Forwarded: w.forwarded.Load(), Sleeps: w.sleeps.Load()}
		for r := range s.Drops {
			s.Drops[r] = w.drops[r].Load()
		}
		out[i] = s
	}
	return out
}
