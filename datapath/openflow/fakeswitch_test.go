package openflow

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// fakeSwitch listens on a unix socket and plays just enough of a switch for ovs-ofctl: it
// answers the handshake, features, barriers and echo, and records every other message raw.
type fakeSwitch struct {
	path string
	ln   net.Listener
	mu   sync.Mutex
	got  [][]byte
	wg   sync.WaitGroup
	// replies answers a recorded request (e.g. a multipart request) with canned messages.
	replies func(h Header, raw []byte) []Message
}

func newFakeSwitch(t *testing.T) *fakeSwitch {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sw.mgmt")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	s := &fakeSwitch{path: path, ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeSwitch) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(NewConn(c))
		}()
	}
}

func (s *fakeSwitch) handle(c *Conn) {
	if _, err := c.Send(NewHello()); err != nil {
		return
	}
	for {
		raw, err := c.ReadRaw()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
		h, _ := ParseHeader(raw)
		switch h.Type {
		case TypeHello:
		case TypeEchoRequest:
			_ = c.SendXID(h.XID, &EchoReply{Data: clone(raw[HeaderLen:])})
		case TypeFeaturesRequest:
			_ = c.SendXID(h.XID, &FeaturesReply{DatapathID: 0x1234, NTables: 254, Capabilities: CapFlowStats | CapTableStats | CapPortStats | CapGroupStats})
		case TypeBarrierRequest:
			_ = c.SendXID(h.XID, &BarrierReply{})
		case TypeMultipartRequest:
			if len(raw) >= 10 && be.Uint16(raw[8:]) == 12 { // table features: ovs-ofctl asks first
				// One table-features entry without properties: enough for ovs-ofctl to carry on.
				_ = c.SendXID(h.XID, &TableFeaturesReply{Tables: []TableFeatures{{}}})
				continue
			}
			if len(raw) >= 10 && be.Uint16(raw[8:]) == 13 && s.replies == nil { // port desc: no ports
				_ = c.SendXID(h.XID, &Unknown{MsgType: TypeMultipartReply, Body: []byte{0, 13, 0, 0, 0, 0, 0, 0}})
				continue
			}
			fallthrough
		default:
			s.mu.Lock()
			s.got = append(s.got, clone(raw))
			s.mu.Unlock()
			if s.replies != nil {
				for _, m := range s.replies(h, raw) {
					_ = c.Write(h.XID, m)
				}
				_ = c.Flush()
			}
		}
	}
}

func (s *fakeSwitch) messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.got...)
}
