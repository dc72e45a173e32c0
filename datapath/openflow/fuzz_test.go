package openflow

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// FuzzDecodeMessage feeds arbitrary bytes to Unmarshal. It must never panic; whatever decodes
// must encode again (unless its match lacks prerequisites, which the encoder refuses), and that
// encoding must be a fixed point: it decodes to an equal message and re-encodes to the same
// bytes. The seeds are the captured ovs-ofctl and ovs-vswitchd messages.
func FuzzDecodeMessage(f *testing.F) {
	for _, g := range readGolden(f) {
		f.Add(g.raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, m, err := Unmarshal(data)
		if err != nil {
			return
		}
		b, err := Marshal(h.XID, m)
		if err != nil {
			if errors.Is(err, ErrBadMatch) || errors.Is(err, ErrBadAction) || errors.Is(err, ErrTooLong) || errors.Is(err, ErrBadLength) {
				return
			}
			t.Fatalf("decoded %T but cannot encode it: %v", m, err)
		}
		h2, m2, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("re-encoded %T does not decode: %v\nin  %x\nout %x", m, err, data, b)
		}
		if h2.XID != h.XID || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decoded message differs\n got %#v\nwant %#v", m2, m)
		}
		b2, err := Marshal(h.XID, m2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("encoding is not a fixed point (%v)\n%x\n%x", err, b, b2)
		}
	})
}

// FuzzReader cuts arbitrary streams into messages: never a panic, never a message whose length
// disagrees with its header.
func FuzzReader(f *testing.F) {
	var stream []byte
	for _, g := range readGolden(f)[:8] {
		stream = append(stream, g.raw...)
	}
	f.Add(stream)
	f.Add([]byte{6, 0, 0, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 1000 {
			raw, err := r.ReadRaw()
			if err != nil {
				return
			}
			if h, err := ParseHeader(raw); err != nil || int(h.Length) != len(raw) {
				t.Fatalf("message of %d bytes with header %+v (%v)", len(raw), h, err)
			}
		}
	})
}

// TestWriteFuzzSeeds writes the golden messages as the committed seed corpora of the fuzz
// targets (testdata/fuzz/...). Run with -update-golden after re-capturing.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateGolden {
		t.Skip("run with -update-golden to rewrite the seed corpora")
	}
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stream []byte
	for i, g := range readGolden(t) {
		name := fmt.Sprintf("golden-%s-%d", strings.NewReplacer("/", "-", ".txt", "").Replace(g.file), i)
		write("FuzzDecodeMessage", name, g.raw)
		if g.raw[1] == byte(TypeFlowMod) {
			write("FuzzFlowModel", name, g.raw)
		}
		if len(stream) < 4096 {
			stream = append(stream, g.raw...)
		}
	}
	write("FuzzReader", "golden-stream", stream)
}

// TestHostileLengths checks that counts and lengths inside a message cannot make the decoder
// read past the message or allocate for data that is not there.
func TestHostileLengths(t *testing.T) {
	fm := mustMarshal(t, 1, NewFlowMod(FlowAdd))
	withActions := func(acts ...byte) []byte { return flowModWithActions(t, acts...) }
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"dec_ttl claiming 65535 ids", withActions(0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 21, 0xff, 0xff, 0, 0, 0, 0)},
		{"hello element longer than the message", []byte{6, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0xff, 0xf0, 0, 0, 0, 0x40}},
		{"match longer than the message", append(append([]byte(nil), fm[:48]...), 0, 1, 0xff, 0xff, 0, 0, 0, 0)},
		{"bucket longer than the group mod", []byte{6, 15, 0, 32, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0, 0, 0xff, 0xf0, 0, 0, 0, 0, 0, 0}},
		{"bundle add with an inner message longer than itself", []byte{6, 34, 0, 24, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 6, 14, 0xff, 0xff, 0, 0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be.PutUint16(tc.raw[2:], uint16(len(tc.raw)))
			var err error
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 10 {
				_, _, err = Unmarshal(tc.raw)
			}
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Errorf("Unmarshal(%x) succeeded", tc.raw)
			}
			// The claimed sizes are up to 128 KiB; refusing must cost far less.
			if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 16<<10 {
				t.Errorf("refusing %d bytes allocated %d bytes", len(tc.raw), per)
			}
		})
	}
}

// FuzzFlowModel decodes flow mods and converts them to the flow model and back: whatever
// converts must come back to an equal flow (the conversion is a fixed point after one step).
func FuzzFlowModel(f *testing.F) {
	for _, g := range readGolden(f) {
		if len(g.raw) > 1 && g.raw[1] == byte(TypeFlowMod) {
			f.Add(g.raw)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, m, err := Unmarshal(data)
		if err != nil {
			return
		}
		fm, ok := m.(*FlowMod)
		if !ok {
			return
		}
		f1, err := fm.Flow()
		if err != nil {
			return
		}
		fm2, err := FlowModFor(f1, fm.Command)
		if err != nil {
			t.Fatalf("flow %s from a decoded flow mod does not convert back: %v", f1, err)
		}
		f2, err := fm2.Flow()
		if err != nil {
			t.Fatalf("second conversion: %v", err)
		}
		if !reflect.DeepEqual(f1, f2) {
			t.Fatalf("flow model round trip differs\n got %s\nwant %s", f2, f1)
		}
	})
}
