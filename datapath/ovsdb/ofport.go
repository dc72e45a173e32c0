package ovsdb

import "errors"

// errNoOFPort is the reason given when a bridge has no OpenFlow port number left.
var errNoOFPort = errors.New("no free OpenFlow port number on the bridge")

// assignOFPorts sets the OFPort of every interface of b that can be attached, by the rules in
// the package doc. held maps the names of interfaces attached to b right now to their numbers;
// remembered maps names to the numbers they had earlier in this process.
func assignOFPorts(b *desiredBridge, held, remembered map[string]int) {
	used := map[int]bool{}
	requested := map[int]bool{}
	var todo []*desiredIface
	for _, di := range b.ifaces {
		switch {
		case di.err != nil:
		case di.Kind == KindInternal && di.Name == b.Name:
			di.OFPort = OFPortLocal
		default:
			if di.request != 0 {
				requested[di.request] = true
			}
			todo = append(todo, di)
		}
	}
	take := func(di *desiredIface, p int) bool {
		if p == 0 || used[p] {
			return false
		}
		used[p] = true
		di.OFPort = p
		return true
	}
	// Attached interfaces that are where they want to be stay there.
	for _, di := range todo {
		if h := held[di.Name]; h != 0 && (di.request == 0 || di.request == h) {
			take(di, h)
		}
	}
	// Requests are granted in name order when the number is free.
	for _, di := range todo {
		if di.OFPort == 0 && di.request != 0 {
			take(di, di.request)
		}
	}
	// An attached interface whose request could not be granted keeps its number if it can.
	for _, di := range todo {
		if di.OFPort == 0 {
			take(di, held[di.Name])
		}
	}
	// Then the number the interface had before, in this process or in the ofport column,
	// unless another interface asks for it.
	for _, di := range todo {
		if di.OFPort != 0 {
			continue
		}
		for _, p := range [2]int{remembered[di.Name], di.previous} {
			if p != 0 && !requested[p] && take(di, p) {
				break
			}
		}
	}
	// The rest get the lowest number nobody holds or requests.
	next := 1
	for _, di := range todo {
		if di.OFPort != 0 {
			continue
		}
		for next <= OFPortAutoMax && (used[next] || requested[next]) {
			next++
		}
		if next > OFPortAutoMax {
			di.err = errNoOFPort
			continue
		}
		take(di, next)
	}
}
