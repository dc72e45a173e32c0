package openflow

import "errors"

// ErrorFor returns the OpenFlow error a switch should answer a request with when decoding it
// failed with err; raw is the request, whose first 64 bytes the reply carries. Decoding does not
// fail on actions and instructions it does not model (they become RawAction and
// RawInstruction): a switch that cannot execute those answers ErrBadActionType or
// ErrBadInstUnknown itself.
func ErrorFor(err error, raw []byte) *Error {
	var e Error
	switch {
	case errors.Is(err, ErrBadVersion):
		e = ErrBadRequestVersion
	case errors.Is(err, ErrDupField):
		e = ErrBadMatchDupField
	case errors.Is(err, ErrBadMask):
		e = Error{ErrType: ErrTypeBadMatch, Code: 8} // OFPBMC_BAD_MASK
	case errors.Is(err, ErrBadPrereq):
		e = ErrBadMatchPrereq
	case errors.Is(err, ErrBadField) && errors.Is(err, ErrBadAction):
		e = Error{ErrType: ErrTypeBadAction, Code: 13} // OFPBAC_BAD_SET_TYPE
	case errors.Is(err, ErrBadField):
		e = ErrBadMatchField
	case errors.Is(err, ErrBadMatch):
		e = ErrBadMatchValue
	case errors.Is(err, ErrBadInst):
		e = Error{ErrType: ErrTypeBadInstruction, Code: 7} // OFPBIC_BAD_LEN
	case errors.Is(err, ErrBadAction):
		e = ErrBadActionLen
	default:
		e = ErrBadRequestLen
	}
	return e.WithData(raw)
}
