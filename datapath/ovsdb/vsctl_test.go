package ovsdb_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicenet/sluice/internal/testutil"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	sovsdb "github.com/sluicenet/sluice/datapath/ovsdb"
	"github.com/sluicenet/sluice/datapath/ovsdb/ovsdbtest"
	"github.com/sluicenet/sluice/datapath/ovsdb/vswitch"
)

// vsctl plays ovs-vsctl against a database with libovsdb: each change is one transaction that
// also increments next_cfg, and wait blocks until cur_cfg catches up, as ovs-vsctl does
// without --no-wait.
type vsctl struct {
	t    testing.TB
	c    client.Client
	root string
	next int
}

func newVSCtl(t testing.TB, endpoint string) *vsctl {
	t.Helper()
	m, err := vswitch.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	quiet := logr.Discard() // without a logger, libovsdb logs every cache update to stderr
	c, err := client.NewOVSDBClient(m, client.WithEndpoint(endpoint), client.WithLogger(&quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(t.Context()); err != nil {
		t.Fatalf("connect to %s: %v", endpoint, err)
	}
	t.Cleanup(c.Close)
	if _, err := c.MonitorAll(t.Context()); err != nil {
		t.Fatalf("monitor: %v", err)
	}
	v := &vsctl{t: t, c: c}
	var roots []vswitch.OpenvSwitch
	if err := c.List(t.Context(), &roots); err != nil {
		t.Fatal(err)
	}
	if len(roots) == 0 {
		root := &vswitch.OpenvSwitch{UUID: "root"}
		ops, err := c.Create(root)
		if err != nil {
			t.Fatal(err)
		}
		res := v.transact(ops)
		v.root = res[0].UUID.GoUUID
	} else {
		v.root, v.next = roots[0].UUID, roots[0].NextCfg
	}
	return v
}

func (v *vsctl) transact(ops []ovsdb.Operation) []ovsdb.OperationResult {
	v.t.Helper()
	res, err := v.c.Transact(v.t.Context(), ops...)
	if err != nil {
		v.t.Fatalf("transact: %v", err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		v.t.Fatalf("transact: %v", err)
	}
	return res
}

func (v *vsctl) must(ops []ovsdb.Operation, err error) []ovsdb.Operation {
	v.t.Helper()
	if err != nil {
		v.t.Fatal(err)
	}
	return ops
}

// do commits ops with next_cfg incremented and waits for cur_cfg, like ovs-vsctl.
func (v *vsctl) do(ops ...[]ovsdb.Operation) {
	v.t.Helper()
	v.commit(ops...)
	v.wait()
}

// commit commits ops with next_cfg incremented, like ovs-vsctl --no-wait.
func (v *vsctl) commit(ops ...[]ovsdb.Operation) {
	v.t.Helper()
	var all []ovsdb.Operation
	for _, o := range ops {
		all = append(all, o...)
	}
	v.next++
	root := &vswitch.OpenvSwitch{UUID: v.root, NextCfg: v.next}
	all = append(all, v.must(v.c.Where(root).Update(root, &root.NextCfg))...)
	v.transact(all)
}

// wait blocks until cur_cfg reaches next_cfg.
func (v *vsctl) wait() {
	v.t.Helper()
	v.eventually("cur_cfg reaches next_cfg", func() error {
		r := v.rootRow()
		if r.CurCfg < v.next {
			return fmt.Errorf("cur_cfg %d, next_cfg %d", r.CurCfg, v.next)
		}
		return nil
	})
}

// waitMonitoring waits until a Client has written "sluice" into datapath_types, which it does
// in its first reconcile, after its monitor is in place. libovsdb's in-memory server builds a
// monitor's initial reply table by table, so a transaction that commits meanwhile can reach
// the client half; real ovsdb-server does not have this problem.
func (v *vsctl) waitMonitoring() {
	v.t.Helper()
	v.eventually("client monitoring", func() error {
		if !slices.Contains(v.rootRow().DatapathTypes, sovsdb.DatapathType) {
			return errors.New("datapath_types lacks sluice")
		}
		return nil
	})
}

func (v *vsctl) rootRow() vswitch.OpenvSwitch {
	r := vswitch.OpenvSwitch{UUID: v.root}
	if err := v.c.Get(context.Background(), &r); err != nil {
		v.t.Fatalf("get root: %v", err)
	}
	return r
}

// eventually polls check until it returns nil, failing after 10 s with its last error.
func (v *vsctl) eventually(what string, check func() error) {
	v.t.Helper()
	eventually(v.t, what, check)
}

func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (v *vsctl) addBridge(name, dpType string) []ovsdb.Operation {
	v.t.Helper()
	br := &vswitch.Bridge{UUID: "br_" + name, Name: name, DatapathType: dpType, Ports: []string{"port_" + name}}
	ops := v.port(name, name, "internal", nil, 0)
	ops = append(ops, v.must(v.c.Create(br))...)
	root := &vswitch.OpenvSwitch{UUID: v.root}
	return append(ops, v.must(v.c.Where(root).Mutate(root, model.Mutation{
		Field: &root.Bridges, Mutator: ovsdb.MutateOperationInsert, Value: []string{br.UUID}}))...)
}

// port returns the inserts of a port with one interface; request 0 leaves ofport_request empty.
func (v *vsctl) port(pname, iname, typ string, opts map[string]string, request int) []ovsdb.Operation {
	v.t.Helper()
	iface := &vswitch.Interface{UUID: "if_" + iname, Name: iname, Type: typ, Options: opts}
	if request != 0 {
		iface.OfportRequest = &request
	}
	p := &vswitch.Port{UUID: "port_" + pname, Name: pname, Interfaces: []string{iface.UUID}}
	return append(v.must(v.c.Create(iface)), v.must(v.c.Create(p))...)
}

func (v *vsctl) addPort(bridge, name, typ string, opts map[string]string, request int) []ovsdb.Operation {
	v.t.Helper()
	ops := v.port(name, name, typ, opts, request)
	br := v.bridge(bridge)
	return append(ops, v.must(v.c.Where(&br).Mutate(&br, model.Mutation{
		Field: &br.Ports, Mutator: ovsdb.MutateOperationInsert, Value: []string{"port_" + name}}))...)
}

func (v *vsctl) delPort(bridge, name string) []ovsdb.Operation {
	v.t.Helper()
	br := v.bridge(bridge)
	p := vswitch.Port{Name: name}
	if err := v.c.Get(context.Background(), &p); err != nil {
		v.t.Fatalf("get port %s: %v", name, err)
	}
	ops := v.must(v.c.Where(&br).Mutate(&br, model.Mutation{
		Field: &br.Ports, Mutator: ovsdb.MutateOperationDelete, Value: []string{p.UUID}}))
	ops = append(ops, v.must(v.c.Where(&p).Delete())...)
	for _, iu := range p.Interfaces {
		ops = append(ops, v.must(v.c.Where(&vswitch.Interface{UUID: iu}).Delete())...)
	}
	return ops
}

func (v *vsctl) setInterface(name string, fields func(i *vswitch.Interface) []any) []ovsdb.Operation {
	v.t.Helper()
	i := v.iface(name)
	return v.must(v.c.Where(&i).Update(&i, fields(&i)...))
}

func (v *vsctl) setBridgeType(name, dpType string) []ovsdb.Operation {
	v.t.Helper()
	b := v.bridge(name)
	b.DatapathType = dpType
	return v.must(v.c.Where(&b).Update(&b, &b.DatapathType))
}

func (v *vsctl) bridge(name string) vswitch.Bridge {
	v.t.Helper()
	b := vswitch.Bridge{Name: name}
	if err := v.c.Get(context.Background(), &b); err != nil {
		v.t.Fatalf("get bridge %s: %v", name, err)
	}
	return b
}

func (v *vsctl) iface(name string) vswitch.Interface {
	v.t.Helper()
	i := vswitch.Interface{Name: name}
	if err := v.c.Get(context.Background(), &i); err != nil {
		v.t.Fatalf("get interface %s: %v", name, err)
	}
	return i
}

// ofport returns the interface's ofport column, 0 when it is empty.
func (v *vsctl) ofport(name string) int {
	v.t.Helper()
	i := v.iface(name)
	if i.Ofport == nil {
		return 0
	}
	return *i.Ofport
}

// startClient runs a Client against endpoint until the test ends or stop is called; its log
// goes to the test output when the test fails.
func startClient(t testing.TB, endpoint string, dp sovsdb.Datapath, tune ...func(*sovsdb.Options)) (c *sovsdb.Client, stop func()) {
	t.Helper()
	opts := sovsdb.DefaultOptions()
	opts.Endpoint = endpoint
	opts.StatusInterval = 100 * time.Millisecond
	opts.Timeout = 5 * time.Second
	opts.ReconnectInterval = 200 * time.Millisecond
	for _, f := range tune {
		f(&opts)
	}
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := sovsdb.New(opts, dp, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("client log:\n%s", logs.String())
		}
	})
	return c, stop
}

// noViolations fails t when the fake datapath saw a misuse.
func noViolations(t *testing.T, dp *ovsdbtest.Datapath) {
	t.Helper()
	if v := dp.Violations(); len(v) > 0 {
		t.Errorf("datapath misused: %q", v)
	}
}
