package openflow

// PortMod is OFPT_PORT_MOD (ovs-ofctl mod-port): set the Config bits selected by Mask on port
// PortNo, whose address must be HWAddr. Properties (the Ethernet advertise property) stay raw.
type PortMod struct {
	PortNo     uint32
	HWAddr     [6]byte
	Config     uint32
	Mask       uint32
	Properties []byte
}

// Type returns TypePortMod.
func (*PortMod) Type() Type { return TypePortMod }

func (m *PortMod) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, m.PortNo)
	b = append(b, 0, 0, 0, 0)
	b = append(b, m.HWAddr[:]...)
	b = append(b, 0, 0)
	b = be.AppendUint32(b, m.Config)
	b = be.AppendUint32(b, m.Mask)
	return append(b, m.Properties...), nil
}

func (m *PortMod) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.PortNo = c.u32()
	c.skip(4)
	copy(m.HWAddr[:], c.take(6))
	c.skip(2)
	m.Config, m.Mask = c.u32(), c.u32()
	m.Properties = c.rest()
	return c.err
}

// MeterConfigRequest is OFPMP_METER_CONFIG's request (ovs-ofctl dump-meters).
type MeterConfigRequest struct {
	multipart
	MeterID uint32
}

// Type returns TypeMultipartRequest.
func (*MeterConfigRequest) Type() Type { return TypeMultipartRequest }
func (m *MeterConfigRequest) appendBody(b []byte) ([]byte, error) {
	return appendIDRequest(b, MPMeterDesc, m.Flags, m.MeterID), nil
}
func (m *MeterConfigRequest) decodeBody(b []byte) (err error) {
	m.Flags, m.MeterID, err = decodeIDRequest(b)
	return err
}

// MeterConfig is one ofp_meter_config entry.
type MeterConfig struct {
	Flags   uint16
	MeterID uint32
	Bands   []Band
}

// MeterConfigReply is OFPMP_METER_CONFIG's reply.
type MeterConfigReply struct {
	multipart
	Meters []MeterConfig
}

// Type returns TypeMultipartReply.
func (*MeterConfigReply) Type() Type { return TypeMultipartReply }
func (m *MeterConfigReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPMeterDesc, m.Flags)
	for _, mc := range m.Meters {
		if 8+16*len(mc.Bands) > 0xffff {
			return b, ErrTooLong
		}
		b = be.AppendUint16(b, uint16(8+16*len(mc.Bands)))
		b = be.AppendUint16(b, mc.Flags)
		b = be.AppendUint32(b, mc.MeterID)
		for i := range mc.Bands {
			b = appendBand(b, &mc.Bands[i])
		}
	}
	return b, nil
}
func (m *MeterConfigReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	for c.len() > 0 && c.err == nil {
		n := int(c.u16())
		if c.err == nil && n < 8 {
			return ErrBadLength
		}
		mc := MeterConfig{Flags: c.u16(), MeterID: c.u32()}
		bands, err := decodeBands(c.sub(n - 8))
		if err != nil {
			return err
		}
		mc.Bands = bands
		m.Meters = append(m.Meters, mc)
	}
	return c.err
}
