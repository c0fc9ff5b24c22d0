package message

import "testing"

// FuzzDecodeMessage: arbitrary 'm' payloads never panic, and encoded
// messages decode to what was encoded.
func FuzzDecodeMessage(f *testing.F) {
	enc, _ := Encode("warning", "careful\n")
	f.Add(enc, "status", "x")
	f.Add([]byte{0xa1, 0x40, 0x40}, "", "")
	f.Fuzz(func(t *testing.T, p []byte, typ, data string) {
		_, _ = Decode(p)
		b, err := Encode(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(b)
		if err != nil || m["type"] != typ || m["data"] != data {
			t.Fatalf("round trip of (%q, %q): %v %v", typ, data, m, err)
		}
	})
}
