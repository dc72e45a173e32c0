package ovsdb

import (
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/sluicenet/sluice/datapath/ovsdb/vswitch"
)

// interfaceStatusOps returns the update of row's status columns that differ from what p says,
// plus its statistics when p has counters that were not written yet.
func interfaceStatusOps(api client.API, row *vswitch.Interface, p *port) ([]ovsdb.Operation, error) {
	w := &vswitch.Interface{UUID: row.UUID}
	if p.attached {
		st := p.status
		w.Ofport = ptr(p.iface.OFPort)
		w.AdminState = ptr(upDown(st.AdminUp))
		w.LinkState = ptr(upDown(st.LinkUp))
		if len(st.MAC) > 0 {
			w.MACInUse = ptr(st.MAC.String())
		}
		w.Ifindex = ptr(st.Ifindex)
		if st.MTU > 0 {
			w.MTU = ptr(st.MTU)
		}
	} else {
		// As ovs-vswitchd's iface_clear_db_record: no port number, the reason, no status.
		w.Ofport = ptr(OFPortNone)
		if p.err != nil {
			w.Error = ptr(p.err.Error())
		}
	}
	var fields []any
	for _, c := range []struct {
		changed bool
		field   any
	}{
		{differs(w.Ofport, row.Ofport), &w.Ofport},
		{differs(w.Error, row.Error), &w.Error},
		{differs(w.AdminState, row.AdminState), &w.AdminState},
		{differs(w.LinkState, row.LinkState), &w.LinkState},
		{differs(w.MACInUse, row.MACInUse), &w.MACInUse},
		{differs(w.Ifindex, row.Ifindex), &w.Ifindex},
		{differs(w.MTU, row.MTU), &w.MTU},
	} {
		if c.changed {
			fields = append(fields, c.field)
		}
	}
	if p.newStats {
		if p.attached {
			w.Statistics = p.status.Counters.statistics()
		} else {
			w.Statistics = map[string]int{}
		}
		fields = append(fields, &w.Statistics)
	}
	if len(fields) == 0 {
		return nil, nil
	}
	ops, err := api.Where(w).Update(w, fields...)
	if err != nil {
		return nil, fmt.Errorf("update interface %s: %w", row.Name, err)
	}
	return ops, nil
}

// bridgeStatusOps returns the update of row's datapath_id and datapath_version when they
// differ from st.
func bridgeStatusOps(api client.API, row *vswitch.Bridge, st BridgeStatus) ([]ovsdb.Operation, error) {
	w := &vswitch.Bridge{UUID: row.UUID, DatapathVersion: st.DatapathVersion}
	if st.DatapathID != 0 {
		w.DatapathID = ptr(fmt.Sprintf("%016x", st.DatapathID))
	}
	var fields []any
	if differs(w.DatapathID, row.DatapathID) {
		fields = append(fields, &w.DatapathID)
	}
	if w.DatapathVersion != row.DatapathVersion {
		fields = append(fields, &w.DatapathVersion)
	}
	if len(fields) == 0 {
		return nil, nil
	}
	ops, err := api.Where(w).Update(w, fields...)
	if err != nil {
		return nil, fmt.Errorf("update bridge %s: %w", row.Name, err)
	}
	return ops, nil
}

// rootOps returns the updates of the Open_vSwitch row that describe Sluice: its datapath type
// and interface types added to the lists (by insertion, so that other switches sharing the
// database keep theirs) and db_version when nobody has set it.
func rootOps(api client.API, root *vswitch.OpenvSwitch, dpType, schemaVersion string) ([]ovsdb.Operation, error) {
	w := &vswitch.OpenvSwitch{UUID: root.UUID}
	var mutations []model.Mutation
	if !slices.Contains(root.DatapathTypes, dpType) {
		mutations = append(mutations, model.Mutation{Field: &w.DatapathTypes, Mutator: ovsdb.MutateOperationInsert, Value: []string{dpType}})
	}
	var missing []string
	for _, t := range IfaceTypes() {
		if !slices.Contains(root.IfaceTypes, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		mutations = append(mutations, model.Mutation{Field: &w.IfaceTypes, Mutator: ovsdb.MutateOperationInsert, Value: missing})
	}
	var ops []ovsdb.Operation
	if len(mutations) > 0 {
		o, err := api.Where(w).Mutate(w, mutations...)
		if err != nil {
			return nil, fmt.Errorf("mutate open_vswitch types: %w", err)
		}
		ops = append(ops, o...)
	}
	if deref(root.DbVersion) == "" && schemaVersion != "" {
		w.DbVersion = ptr(schemaVersion)
		o, err := api.Where(w).Update(w, &w.DbVersion)
		if err != nil {
			return nil, fmt.Errorf("update open_vswitch db_version: %w", err)
		}
		ops = append(ops, o...)
	}
	return ops, nil
}

// ackOps returns the update of cur_cfg to the snapshot's next_cfg.
func ackOps(api client.API, root *vswitch.OpenvSwitch) ([]ovsdb.Operation, error) {
	w := &vswitch.OpenvSwitch{UUID: root.UUID, CurCfg: root.NextCfg}
	ops, err := api.Where(w).Update(w, &w.CurCfg)
	if err != nil {
		return nil, fmt.Errorf("update cur_cfg: %w", err)
	}
	return ops, nil
}

func upDown(up bool) string {
	if up {
		return vswitch.InterfaceLinkStateUp
	}
	return vswitch.InterfaceLinkStateDown
}

func ptr[T any](v T) *T { return &v }

// differs reports whether two optional column values differ.
func differs[T comparable](a, b *T) bool {
	return (a == nil) != (b == nil) || (a != nil && *a != *b)
}
