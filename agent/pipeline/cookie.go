package pipeline

import "fmt"

// Component is the part of the agent a flow belongs to, kept in the cookie.
type Component uint8

// Components that own flows.
const (
	ComponentNode Component = 1 // NodeFlows: the static pipeline
	ComponentPod  Component = 2 // PodFlows: one pod's flows
)

// Cookie layout (64 bits):
//
//	63        48 47     40 39                              0
//	┌───────────┬─────────┬────────────────────────────────┐
//	│  round    │component│ object (pod: its ofport)       │
//	└───────────┴─────────┴────────────────────────────────┘
//
// The round is a 16-bit number the agent increments on every start and persists; flows
// carrying an older round after the agent has replayed its flows are stale (StaleFilter).
// Component and object together identify whose flows they are, independent of the round
// (PodFilter).
const (
	cookieRoundShift     = 48
	cookieComponentShift = 40
	cookieObjectMask     = uint64(1)<<cookieComponentShift - 1
	cookieComponentMask  = uint64(0xff) << cookieComponentShift
	cookieRoundMask      = uint64(0xffff) << cookieRoundShift
)

// Cookie returns the cookie of a flow of component c for object obj in round round.
func Cookie(round uint16, c Component, obj uint64) uint64 {
	return uint64(round)<<cookieRoundShift | uint64(c)<<cookieComponentShift | obj&cookieObjectMask
}

// CookieFields splits a cookie into round, component and object.
func CookieFields(cookie uint64) (round uint16, c Component, obj uint64) {
	return uint16(cookie >> cookieRoundShift), Component(cookie >> cookieComponentShift), cookie & cookieObjectMask
}

// cookieFilter returns the del-flows/dump-flows filter text selecting cookie under mask.
func cookieFilter(cookie, mask uint64) string {
	return fmt.Sprintf("cookie=%#x/%#x", cookie, mask)
}
