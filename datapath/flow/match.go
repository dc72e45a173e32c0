package flow

// Match is a flow's match: the values it wants (Key, already masked) and which bits it cares
// about (Mask). A packet key k matches when k & Mask == Key, word by word.
type Match struct {
	Key  Key
	Mask Key
}

// Set makes the match require field f == v under mask m (m = f.Info().Mask64() for an exact match).
func (m *Match) Set(f Field, v, mask uint64) {
	fi := f.Info()
	mask &= fi.Mask64()
	if fi.Bits == 128 {
		m.Set128(f, 0, v, 0, mask)
		return
	}
	m.Mask.Set(f, m.Mask.Get(f)|mask)
	old := m.Key.Get(f) &^ mask
	m.Key.Set(f, old|v&mask)
}

// Set128 makes the match require a 128-bit field == hi:lo under mhi:mlo.
func (m *Match) Set128(f Field, hi, lo, mhi, mlo uint64) {
	ohi, olo := m.Mask.Get128(f)
	m.Mask.Set128(f, ohi|mhi, olo|mlo)
	khi, klo := m.Key.Get128(f)
	m.Key.Set128(f, khi&^mhi|hi&mhi, klo&^mlo|lo&mlo)
}

// Matches reports whether packet key k satisfies m.
func (m *Match) Matches(k *Key) bool {
	for i := range k.W {
		if k.W[i]&m.Mask.W[i] != m.Key.W[i] {
			return false
		}
	}
	return true
}
