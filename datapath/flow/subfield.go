package flow

// Reading and writing fields and subfields of a Key, as the executor's set_field, load and move
// do. None of these allocate.

// ReadSubfield returns s's bits of k, right-aligned (up to 128 bits).
func (k *Key) ReadSubfield(s Subfield) Value {
	var v Value
	if s.Field.Info().Bits == 128 {
		v.Hi, v.Lo = k.Get128(s.Field)
	} else {
		v.Lo = k.Get(s.Field)
	}
	return v.shr(s.Ofs).and(ones(s.Bits))
}

// WriteSubfield stores the low s.Bits bits of v into s's bits of k; the field's other bits
// keep their values.
func (k *Key) WriteSubfield(s Subfield, v Value) {
	m := ones(s.Bits)
	k.writeMasked(s.Field, v.and(m).shl(s.Ofs), m.shl(s.Ofs))
}

// writeMasked sets field f to f&^m | v&m.
func (k *Key) writeMasked(f Field, v, m Value) {
	if f.Info().Bits == 128 {
		hi, lo := k.Get128(f)
		k.Set128(f, hi&^m.Hi|v.Hi&m.Hi, lo&^m.Lo|v.Lo&m.Lo)
		return
	}
	k.Set(f, k.Get(f)&^m.Lo|v.Lo&m.Lo)
}

// Apply writes the action's value into k under its mask.
func (a *SetField) Apply(k *Key) { k.writeMasked(a.Field, a.Value, a.Mask) }

// Apply copies the source subfield into the destination subfield of k.
func (a *Move) Apply(k *Key) { k.WriteSubfield(a.Dst, k.ReadSubfield(a.Src)) }

// Conjunctions returns the flow's conjunction actions (a clause flow has only these and notes).
func (f *Flow) Conjunctions() []Conjunction {
	var out []Conjunction
	for _, a := range f.Instructions.Apply {
		if c, ok := a.(*Conjunction); ok {
			out = append(out, *c)
		}
	}
	return out
}

// MustParseFlow is ParseFlow for flows written in code (pipeline builders, tests): it panics
// on an error.
func MustParseFlow(s string) *Flow {
	f, err := ParseFlow(s)
	if err != nil {
		panic(err)
	}
	return f
}
