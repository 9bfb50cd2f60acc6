// Package rotate writes one interface's captured packets to pcap files
// that Wireshark and tcpdump read: <base>.pcap is the file being
// written; when it reaches its size or age it is renamed
// <base>.<unix seconds>.pcap and a new one is started, and the oldest
// rotated files go so that at most MaxFiles remain (Felix's
// captureMaxSizeBytes, captureRotationSeconds and captureMaxFiles).
package rotate

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Defaults, as Calico Enterprise's Felix has them.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxAge   = time.Hour
	DefaultMaxFiles = 2
)

// Writer writes one base name's files in one directory.
type Writer struct {
	Dir, Base string
	// MaxSize and MaxAge rotate the current file; MaxFiles bounds the
	// files kept, the current one included.
	MaxSize  int64
	MaxAge   time.Duration
	MaxFiles int
	// SnapLen is the pcap header's snapshot length.
	SnapLen uint32
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	f      *os.File
	buf    *bufio.Writer
	w      *pcapgo.Writer
	size   int64
	opened time.Time
}

// Current is the name of the file being written.
func (w *Writer) Current() string { return w.Base + ".pcap" }

// Write appends one packet, rotating first if the current file is full
// or old.
func (w *Writer) Write(ci gopacket.CaptureInfo, data []byte) error {
	now := w.now()
	if w.f != nil && (w.size+int64(16+len(data)) > w.maxSize() || now.Sub(w.opened) >= w.maxAge()) {
		if err := w.rotate(now); err != nil {
			return err
		}
	}
	if w.f == nil {
		if err := w.open(now); err != nil {
			return err
		}
	}
	// A packet goes to the file whole: when it does not fit in what is
	// left of the buffer, the buffer is written first. So the file always
	// ends at a packet's end, and a copy taken while the capture runs
	// reads cleanly.
	if w.buf.Available() < 16+len(data) && w.buf.Buffered() > 0 {
		if err := w.buf.Flush(); err != nil {
			return err
		}
	}
	if err := w.w.WritePacket(ci, data); err != nil {
		return err
	}
	w.size += int64(16 + len(data))
	return nil
}

// Flush writes what is buffered to the file. Packets are buffered, so
// that a busy capture costs few system calls; a reader of the file sees
// them once flushed (on an idle moment, a rotation or Close).
func (w *Writer) Flush() error {
	if w.buf == nil {
		return nil
	}
	return w.buf.Flush()
}

// Close flushes and closes the current file (it stays as it is).
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.buf.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f, w.buf, w.w = nil, nil, nil
	return err
}

func (w *Writer) open(now time.Time) error {
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(w.Dir, w.Current())
	// A capture that starts again (after a restart) continues its file.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	buf := bufio.NewWriterSize(f, 512<<10)
	pw := pcapgo.NewWriter(buf)
	if st.Size() == 0 {
		snap := w.SnapLen
		if snap == 0 {
			snap = 262144
		}
		if err := pw.WriteFileHeader(snap, layers.LinkTypeEthernet); err != nil {
			f.Close()
			return err
		}
	}
	w.f, w.buf, w.w, w.size, w.opened = f, buf, pw, max(st.Size(), 24), now
	return nil
}

func (w *Writer) rotate(now time.Time) error {
	if err := w.Close(); err != nil {
		return err
	}
	// Named by the time of rotation; a second rotation within the same
	// second takes the next free second, so names stay unique and in
	// order.
	ts := now.Unix()
	if old := w.rotated(); len(old) > 0 {
		if last := w.stamp(old[len(old)-1]); last >= ts {
			ts = last + 1
		}
	}
	rotated := fmt.Sprintf("%s.%d.pcap", w.Base, ts)
	if err := os.Rename(filepath.Join(w.Dir, w.Current()), filepath.Join(w.Dir, rotated)); err != nil {
		return err
	}
	// Keep the newest MaxFiles-1 rotated files beside the new current one.
	old := w.rotated()
	for len(old) > w.maxFiles()-1 {
		if err := os.Remove(filepath.Join(w.Dir, old[0])); err != nil && !os.IsNotExist(err) {
			return err
		}
		old = old[1:]
	}
	return nil
}

// rotated lists this base's rotated files, oldest first.
func (w *Writer) rotated() []string {
	entries, _ := os.ReadDir(w.Dir)
	type file struct {
		name string
		ts   int64
	}
	var out []file
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), w.Base+".")
		if !ok {
			continue
		}
		ts := w.stamp(e.Name())
		if ts < 0 || !strings.HasSuffix(rest, ".pcap") {
			continue
		}
		out = append(out, file{e.Name(), ts})
	}
	slices.SortFunc(out, func(a, b file) int { return int(a.ts - b.ts) })
	names := make([]string, len(out))
	for i, f := range out {
		names[i] = f.name
	}
	return names
}

// stamp is a rotated file's time (-1 if the name is not one).
func (w *Writer) stamp(name string) int64 {
	rest, ok := strings.CutPrefix(name, w.Base+".")
	if !ok {
		return -1
	}
	ts, err := strconv.ParseInt(strings.TrimSuffix(rest, ".pcap"), 10, 64)
	if err != nil {
		return -1
	}
	return ts
}

// Files are this base's files, rotated ones (oldest first) then the
// current one if it exists.
func (w *Writer) Files() []string {
	out := w.rotated()
	if _, err := os.Stat(filepath.Join(w.Dir, w.Current())); err == nil {
		out = append(out, w.Current())
	}
	return out
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Writer) maxSize() int64 {
	if w.MaxSize > 0 {
		return w.MaxSize
	}
	return DefaultMaxSize
}

func (w *Writer) maxAge() time.Duration {
	if w.MaxAge > 0 {
		return w.MaxAge
	}
	return DefaultMaxAge
}

func (w *Writer) maxFiles() int {
	if w.MaxFiles > 0 {
		return w.MaxFiles
	}
	return DefaultMaxFiles
}
