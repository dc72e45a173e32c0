package ofswitch

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/datapath/openflow"
)

// IsSlave is OFPBRC_IS_SLAVE: a slave controller tried to change the switch.
var errIsSlave = openflow.Error{ErrType: openflow.ErrTypeBadRequest, Code: 10}

// errBufferUnknown is OFPBRC_BUFFER_UNKNOWN: the switch buffers no packets.
var errBufferUnknown = openflow.Error{ErrType: openflow.ErrTypeBadRequest, Code: 8}

// conn is one controller connection. The reader goroutine (run) handles messages one at a
// time; the writer goroutine drains out.
type conn struct {
	s  *Switch
	nc net.Conn

	out     chan outMsg
	done    chan struct{}
	closeMu sync.Once

	// Owned by the reader goroutine except where noted.
	bundles map[uint32]*bundle
	flags   uint16 // SET_CONFIG flags

	// Read by packet-in senders on other goroutines.
	missSendLen atomic.Uint32
	pinFormat   atomic.Uint32

	roleMu sync.Mutex
	role   uint32 // guarded by roleMu (read by async senders)
}

func newConn(s *Switch, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, out: make(chan outMsg, s.opts.SendQueue), done: make(chan struct{}),
		bundles: map[uint32]*bundle{}, role: openflow.RoleEqual}
	return c
}

func (c *conn) missSendLenLoad() uint16 { return uint16(c.missSendLen.Load()) }
func (c *conn) packetInFormat() uint32  { return c.pinFormat.Load() }

func (c *conn) close() {
	c.closeMu.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) getRole() uint32 {
	c.roleMu.Lock()
	defer c.roleMu.Unlock()
	return c.role
}

// outMsg is one queued message; flushed, when set, is closed once it has been written.
type outMsg struct {
	b       []byte
	flushed chan struct{}
}

// writer writes queued messages until the connection closes.
func (c *conn) writer() {
	var buf []byte
	for {
		select {
		case <-c.done:
			return
		case m := <-c.out:
			// Batch whatever else is already queued into the same write.
			buf = append(buf[:0], m.b...)
			var flushed []chan struct{}
			if m.flushed != nil {
				flushed = append(flushed, m.flushed)
			}
			for more := true; more && len(buf) < 64<<10; {
				select {
				case nm := <-c.out:
					buf = append(buf, nm.b...)
					if nm.flushed != nil {
						flushed = append(flushed, nm.flushed)
					}
				default:
					more = false
				}
			}
			_, err := c.nc.Write(buf)
			for _, f := range flushed {
				close(f)
			}
			if err != nil {
				c.close()
				return
			}
		}
	}
}

// send queues a reply; it waits for room (replies are never dropped). A multipart reply too
// long for one message is split into several (REPLY_MORE on all but the last).
func (c *conn) send(xid uint32, m openflow.Message) {
	b, err := openflow.AppendSplit(nil, xid, m)
	if err != nil {
		c.s.log.Error("encode reply", "type", m.Type().String(), "err", err)
		return
	}
	select {
	case c.out <- outMsg{b: b}:
	case <-c.done:
	}
}

// sendAsync queues an asynchronous message. Like ovs-vswitchd's service connections (which is
// what connections to the management socket are), a connection gets asynchronous messages only
// after it set a non-zero miss_send_len with SET_CONFIG; slaves then get only port status. It
// reports false when the message was dropped because the queue is full.
func (c *conn) sendAsync(m openflow.Message, masterOnly bool) bool {
	if masterOnly && c.getRole() == openflow.RoleSlave || c.missSendLen.Load() == 0 {
		return true
	}
	b, err := openflow.Marshal(0, m)
	if err != nil {
		c.s.log.Error("encode async message", "type", m.Type().String(), "err", err)
		return false
	}
	select {
	case c.out <- outMsg{b: b}:
		return true
	case <-c.done:
		return true
	default:
		return false
	}
}

// sendError answers request raw with e (carrying the request's start).
func (c *conn) sendError(xid uint32, e openflow.Error, raw []byte) {
	c.s.errsSent.Add(1)
	c.send(xid, e.WithData(raw))
}

// run performs the handshake and then handles messages until the peer goes away.
func (c *conn) run() {
	defer c.close()
	go c.writer()
	c.send(0, openflow.NewHello())
	r := openflow.NewReader(c.nc)
	raw, err := r.ReadRaw()
	if err != nil {
		return
	}
	h, m, err := openflow.Unmarshal(raw)
	hello, ok := m.(*openflow.Hello)
	if err != nil || !ok || !hello.Supports(h.Version, openflow.Version) {
		e := openflow.ErrHelloIncompatible
		e.Data = []byte("sluice-datapath supports only OpenFlow 1.5 (0x06)")
		c.s.errsSent.Add(1)
		c.send(h.XID, &e)
		c.flushAndClose()
		c.s.log.Info("openflow version negotiation failed", "peer_version", h.Version)
		return
	}
	for {
		raw, err := r.ReadRaw()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.s.log.Debug("openflow connection ended", "err", err)
			}
			return
		}
		c.handleRaw(raw)
	}
}

// flushAndClose waits (up to a few seconds) for the queued messages to be written, then
// closes.
func (c *conn) flushAndClose() {
	f := make(chan struct{})
	select {
	case c.out <- outMsg{flushed: f}:
		select {
		case <-f:
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
	case <-c.done:
	}
	c.close()
}

// handleRaw decodes and handles one framed message.
func (c *conn) handleRaw(raw []byte) {
	h, m, err := openflow.Unmarshal(raw)
	if err != nil {
		c.s.errsSent.Add(1)
		c.send(h.XID, openflow.ErrorFor(err, raw))
		return
	}
	c.handle(h, m, raw)
}
