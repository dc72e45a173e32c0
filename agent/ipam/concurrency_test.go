package ipam

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentNoDuplicates runs goroutines allocating and releasing through two allocators on
// one directory (the agent and a CNI fallback: separate flock file descriptions) and checks no
// address is ever held by two attachments at once and nothing leaks.
func TestConcurrentNoDuplicates(t *testing.T) {
	dir := t.TempDir()
	cidrs := []string{"10.30.0.0/27", "fd30::/123"} // 29 and 30 usable: reuse happens
	als := []*Allocator{open(t, dir, cidrs...), open(t, dir, cidrs...)}
	var mu sync.Mutex
	holder := map[string]string{} // address → key
	const workers, rounds = 12, 25
	var wg sync.WaitGroup
	for w := range workers {
		al := als[w%len(als)]
		wg.Go(func() {
			for r := range rounds {
				k := key(fmt.Sprintf("w%d-r%d", w, r))
				ls, err := al.Allocate(k, pod(k.ContainerID))
				if err != nil {
					t.Errorf("Allocate %v: %v", k, err)
					return
				}
				if len(ls) != 2 {
					t.Errorf("Allocate %v: %d leases, want 2", k, len(ls))
				}
				mu.Lock()
				for _, l := range ls {
					if other, dup := holder[l.IP.String()]; dup {
						t.Errorf("%s handed to %s while %s holds it", l.IP, k.ContainerID, other)
					}
					holder[l.IP.String()] = k.ContainerID
				}
				mu.Unlock()
				if r%2 == 0 { // retried ADD through the other allocator: same addresses
					again, err := als[(w+1)%len(als)].Allocate(k, pod(k.ContainerID))
					if err != nil || fmt.Sprint(ips(again)) != fmt.Sprint(ips(ls)) {
						t.Errorf("retry of %v = %v, %v; want %v", k, ips(again), err, ips(ls))
					}
				}
				mu.Lock()
				for _, l := range ls {
					delete(holder, l.IP.String())
				}
				mu.Unlock()
				if err := al.Release(k); err != nil {
					t.Errorf("Release %v: %v", k, err)
				}
			}
		})
	}
	wg.Wait()
	list, bad, err := als[0].List()
	if err != nil || len(bad) != 0 || len(list) != 0 {
		t.Errorf("after every release: %d allocations %v, corrupt %v, err %v; want none", len(list), list, bad, err)
	}
}
