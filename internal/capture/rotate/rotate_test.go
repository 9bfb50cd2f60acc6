package rotate

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// TestRotation: files rotate by size and by age, at most MaxFiles stay
// (the newest), and each file is a pcap file on its own.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	w := &Writer{Dir: dir, Base: "web-0_cali1", MaxSize: 1000, MaxAge: time.Minute, MaxFiles: 3, Now: func() time.Time { return now }}
	pkt := make([]byte, 200)
	write := func(n int) {
		t.Helper()
		for range n {
			pkt[0]++
			if err := w.Write(gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(pkt), Length: len(pkt)}, pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 24 bytes of header, 216 a packet: 4 packets fit in 1000.
	write(4)
	if got := w.Files(); !slices.Equal(got, []string{"web-0_cali1.pcap"}) {
		t.Fatalf("after 4 packets: %v", got)
	}
	write(1) // the fifth rotates by size
	if got := w.Files(); !slices.Equal(got, []string{"web-0_cali1.1796551200.pcap", "web-0_cali1.pcap"}) {
		t.Fatalf("after 5 packets: %v", got)
	}
	now = now.Add(time.Minute) // by age
	write(1)
	write(4) // and by size again, in the same second: the next second's name
	got := w.Files()
	if len(got) != 3 || got[2] != "web-0_cali1.pcap" || got[0] != "web-0_cali1.1796551260.pcap" || got[1] != "web-0_cali1.1796551261.pcap" {
		t.Fatalf("after rotating three times with MaxFiles 3: %v", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Every file reads back; together the newest three hold the last
	// packets, in order.
	var firsts []byte
	for _, name := range got {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			firsts = append(firsts, data[0])
		}
		f.Close()
	}
	if !slices.Equal(firsts, []byte{5, 6, 7, 8, 9, 10}) {
		t.Errorf("the packets kept: %v, want the 5th to the 10th", firsts)
	}
}

// TestBigPacketsKeepTheirPlace: packets large enough to skip the buffer
// (offloaded segments) land in the file between the small ones in the
// order written, with their bytes, and the file reads back whole.
func TestBigPacketsKeepTheirPlace(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{Dir: dir, Base: "big"}
	var want [][]byte
	for i := range 6 {
		size := 60
		if i%2 == 1 {
			size = 40000 + i
		}
		data := bytes.Repeat([]byte{byte(i + 1)}, size)
		want = append(want, data)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1000), CaptureLength: size, Length: size + 10}
		if err := w.Write(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "big.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i, wd := range want {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(data, wd) || ci.Length != len(wd)+10 || ci.Timestamp.Nanosecond() != i*1000 {
			t.Errorf("packet %d: %d bytes (first %d), length %d, at %v", i, len(data), data[0], ci.Length, ci.Timestamp)
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Error("the file holds more packets than were written")
	}
}
