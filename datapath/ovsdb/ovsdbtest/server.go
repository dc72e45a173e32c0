// Package ovsdbtest holds test doubles for code that uses package ovsdb: an in-memory
// Open_vSwitch database server (libovsdb's, speaking the real protocol on a unix socket) and a
// Datapath that records what it is asked to do and can be told to fail, so reconcile logic is
// tested without root, without ovsdb-server and without AF_XDP.
package ovsdbtest

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/stdr"
	"github.com/ovn-org/libovsdb/database/inmemory"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/server"

	"github.com/sluicenet/sluice/datapath/ovsdb/vswitch"
)

var quietOnce sync.Once

// NewServer starts libovsdb's in-memory OVSDB server with an empty Open_vSwitch database
// (Open vSwitch's schema, no rows) on a unix socket in a temporary directory, stops it with
// t.Cleanup, and returns its endpoint ("unix:/…/db.sock").
//
// The in-memory server is libovsdb's test server: it implements transactions (including wait
// and mutate), monitor, monitor_cond and monitor_cond_since, but it does not drop client
// connections when it is closed, so reconnection is tested against the real ovsdb-server.
func NewServer(t testing.TB) string {
	t.Helper()
	quietOnce.Do(func() { stdr.SetVerbosity(0) }) // libovsdb's server sets 5: every request
	clientModel, err := vswitch.FullDatabaseModel()
	if err != nil {
		t.Fatalf("ovsdb model: %v", err)
	}
	schema := vswitch.Schema()
	db := inmemory.NewDatabase(map[string]model.ClientDBModel{schema.Name: clientModel})
	dbModel, errs := model.NewDatabaseModel(schema, clientModel)
	if len(errs) > 0 {
		t.Fatalf("ovsdb database model: %v", errs)
	}
	srv, err := server.NewOvsdbServer(db, dbModel)
	if err != nil {
		t.Fatalf("new in-memory ovsdb server: %v", err)
	}
	path := filepath.Join(t.TempDir(), "db.sock")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve("unix", path) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-errc; err != nil {
			t.Errorf("in-memory ovsdb server: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("in-memory ovsdb server did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "unix:" + path
}
