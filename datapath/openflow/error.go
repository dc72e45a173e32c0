package openflow

import "fmt"

// ErrorType is an OpenFlow error type (OFPET_*).
type ErrorType uint16

// The OpenFlow 1.5 error types.
const (
	ErrTypeHelloFailed         ErrorType = 0
	ErrTypeBadRequest          ErrorType = 1
	ErrTypeBadAction           ErrorType = 2
	ErrTypeBadInstruction      ErrorType = 3
	ErrTypeBadMatch            ErrorType = 4
	ErrTypeFlowModFailed       ErrorType = 5
	ErrTypeGroupModFailed      ErrorType = 6
	ErrTypePortModFailed       ErrorType = 7
	ErrTypeTableModFailed      ErrorType = 8
	ErrTypeQueueOpFailed       ErrorType = 9
	ErrTypeSwitchConfigFailed  ErrorType = 10
	ErrTypeRoleRequestFailed   ErrorType = 11
	ErrTypeMeterModFailed      ErrorType = 12
	ErrTypeTableFeaturesFailed ErrorType = 13
	ErrTypeBadProperty         ErrorType = 14
	ErrTypeAsyncConfigFailed   ErrorType = 15
	ErrTypeFlowMonitorFailed   ErrorType = 16
	ErrTypeBundleFailed        ErrorType = 17
	ErrTypeExperimenter        ErrorType = 0xffff
)

// Error codes a switch commonly answers with (type, code as in the spec).
var (
	ErrHelloIncompatible      = Error{ErrType: ErrTypeHelloFailed, Code: 0}
	ErrBadRequestVersion      = Error{ErrType: ErrTypeBadRequest, Code: 0}
	ErrBadRequestType         = Error{ErrType: ErrTypeBadRequest, Code: 1}
	ErrBadRequestMultipart    = Error{ErrType: ErrTypeBadRequest, Code: 2}
	ErrBadRequestExperimenter = Error{ErrType: ErrTypeBadRequest, Code: 3}
	ErrBadRequestExpType      = Error{ErrType: ErrTypeBadRequest, Code: 4}
	ErrBadRequestLen          = Error{ErrType: ErrTypeBadRequest, Code: 6}
	ErrBadRequestTableID      = Error{ErrType: ErrTypeBadRequest, Code: 9}
	ErrBadRequestPort         = Error{ErrType: ErrTypeBadRequest, Code: 11}
	ErrBadActionType          = Error{ErrType: ErrTypeBadAction, Code: 0}
	ErrBadActionLen           = Error{ErrType: ErrTypeBadAction, Code: 1}
	ErrBadActionExpType       = Error{ErrType: ErrTypeBadAction, Code: 3}
	ErrBadActionOutPort       = Error{ErrType: ErrTypeBadAction, Code: 4}
	ErrBadActionArgument      = Error{ErrType: ErrTypeBadAction, Code: 5}
	ErrBadActionOutGroup      = Error{ErrType: ErrTypeBadAction, Code: 9}
	ErrBadInstUnknown         = Error{ErrType: ErrTypeBadInstruction, Code: 0}
	ErrBadInstTableID         = Error{ErrType: ErrTypeBadInstruction, Code: 2}
	ErrBadMatchType           = Error{ErrType: ErrTypeBadMatch, Code: 0}
	ErrBadMatchLen            = Error{ErrType: ErrTypeBadMatch, Code: 1}
	ErrBadMatchField          = Error{ErrType: ErrTypeBadMatch, Code: 6}
	ErrBadMatchValue          = Error{ErrType: ErrTypeBadMatch, Code: 7}
	ErrBadMatchPrereq         = Error{ErrType: ErrTypeBadMatch, Code: 9}
	ErrBadMatchDupField       = Error{ErrType: ErrTypeBadMatch, Code: 10}
	ErrFlowModTableFull       = Error{ErrType: ErrTypeFlowModFailed, Code: 1}
	ErrFlowModBadTableID      = Error{ErrType: ErrTypeFlowModFailed, Code: 2}
	ErrFlowModOverlap         = Error{ErrType: ErrTypeFlowModFailed, Code: 3}
	ErrFlowModBadCommand      = Error{ErrType: ErrTypeFlowModFailed, Code: 6}
	ErrGroupExists            = Error{ErrType: ErrTypeGroupModFailed, Code: 0}
	ErrGroupInvalid           = Error{ErrType: ErrTypeGroupModFailed, Code: 1}
	ErrGroupUnknown           = Error{ErrType: ErrTypeGroupModFailed, Code: 8}
	ErrGroupBadType           = Error{ErrType: ErrTypeGroupModFailed, Code: 10}
	ErrGroupBadCommand        = Error{ErrType: ErrTypeGroupModFailed, Code: 11}
	ErrGroupUnknownBucket     = Error{ErrType: ErrTypeGroupModFailed, Code: 15}
	ErrGroupBucketExists      = Error{ErrType: ErrTypeGroupModFailed, Code: 16}
	ErrMeterExists            = Error{ErrType: ErrTypeMeterModFailed, Code: 1}
	ErrMeterUnknown           = Error{ErrType: ErrTypeMeterModFailed, Code: 3}
	ErrMeterBadCommand        = Error{ErrType: ErrTypeMeterModFailed, Code: 4}
	ErrRoleStale              = Error{ErrType: ErrTypeRoleRequestFailed, Code: 0}
	ErrRoleBadRole            = Error{ErrType: ErrTypeRoleRequestFailed, Code: 2}
	ErrBundleBadID            = Error{ErrType: ErrTypeBundleFailed, Code: 2}
	ErrBundleExists           = Error{ErrType: ErrTypeBundleFailed, Code: 3}
	ErrBundleClosed           = Error{ErrType: ErrTypeBundleFailed, Code: 4}
	ErrBundleBadType          = Error{ErrType: ErrTypeBundleFailed, Code: 6}
	ErrBundleBadFlags         = Error{ErrType: ErrTypeBundleFailed, Code: 7}
	ErrBundleMsgUnsup         = Error{ErrType: ErrTypeBundleFailed, Code: 10}
	ErrBundleMsgFailed        = Error{ErrType: ErrTypeBundleFailed, Code: 13}
)

// Error is OFPT_ERROR. For ErrTypeExperimenter, Code is the exp_code and Experimenter the
// vendor (OVS's Nicira errors use 0x2320). Data holds (at least the start of) the offending
// request. Error also implements the error interface, so a controller can return a switch's
// answer as a Go error and test it with errors.Is against the values above.
type Error struct {
	ErrType      ErrorType
	Code         uint16
	Experimenter uint32
	Data         []byte
}

// Type returns TypeError.
func (*Error) Type() Type { return TypeError }

func (m *Error) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint16(b, uint16(m.ErrType))
	b = be.AppendUint16(b, m.Code)
	if m.ErrType == ErrTypeExperimenter {
		b = be.AppendUint32(b, m.Experimenter)
	}
	return append(b, m.Data...), nil
}

func (m *Error) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.ErrType, m.Code = ErrorType(c.u16()), c.u16()
	if m.ErrType == ErrTypeExperimenter {
		m.Experimenter = c.u32()
	}
	m.Data = c.rest()
	return c.err
}

// Name returns OVS's name for the error ("OFPBAC_BAD_OUT_PORT", "NXBRC_NXM_INVALID"), or a
// numeric form for one OVS has no name for.
func (m *Error) Name() string {
	if m.ErrType == ErrTypeExperimenter {
		if m.Experimenter == NiciraID {
			if s, ok := nxErrorNames[m.Code]; ok {
				return s
			}
		}
		return fmt.Sprintf("OFPET_EXPERIMENTER(0x%x,%d)", m.Experimenter, m.Code)
	}
	if s, ok := errorNames[uint32(m.ErrType)<<16|uint32(m.Code)]; ok {
		return s
	}
	return fmt.Sprintf("OFPET(%d,%d)", m.ErrType, m.Code)
}

// Error returns the error's OVS name.
func (m Error) Error() string { return "openflow error " + m.Name() }

// Is reports whether target is an Error (or *Error) of the same type, code and experimenter,
// whatever the data.
func (m Error) Is(target error) bool {
	var t Error
	switch v := target.(type) {
	case Error:
		t = v
	case *Error:
		t = *v
	default:
		return false
	}
	return m.ErrType == t.ErrType && m.Code == t.Code && m.Experimenter == t.Experimenter
}

// WithData returns a copy of e carrying (the first 64 bytes of) the offending request, as the
// spec asks a switch to include.
func (m Error) WithData(req []byte) *Error {
	m.Data = clone(req[:min(len(req), 64)])
	return &m
}
